"""A vendor is a plugin: only its own package (and the simulator) may import it.

Everything else reaches a vendor through :mod:`monitor.sources.registry`; the vendor
packages do not import one another either, so a vendor can be added or removed as one
folder.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import monitor
from monitor.sources import registry

ROOT = Path(monitor.__file__).resolve().parent
VENDOR_PACKAGES = tuple(registry.BUILTIN)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _vendor_of(module: str) -> str | None:
    for package in VENDOR_PACKAGES:
        if module == package or module.startswith(package + "."):
            return package
    return None


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_only_a_vendor_package_and_the_simulator_import_a_vendor_package() -> None:
    offending = []
    for path in sorted(ROOT.rglob("*.py")):
        importer = _module_of(path)
        if importer.startswith("monitor.simulator"):
            continue
        own = _vendor_of(importer)
        for line, module in _imports(path):
            vendor = _vendor_of(module)
            if vendor is not None and vendor != own:
                offending.append(f"{path.relative_to(ROOT.parent)}:{line} imports {module}")
    assert offending == []


def test_the_boundary_check_sees_an_offending_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from monitor.sources.kandji.client import KandjiClient\n", encoding="utf-8")
    assert [_vendor_of(m) for _, m in _imports(bad)] == ["monitor.sources.kandji"] * 2
