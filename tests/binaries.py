"""External programs some tests run for real (promtool, Alertmanager).

Locally a missing program skips the test with the package to install; in CI (``CI`` set
to anything but ``0``/``false``) it fails the test, so a broken CI image cannot turn a
real check into a silent skip. ``.ci/run`` installs them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    """Whether the tests run in CI, where every external program must be present."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_binary(name: str, debian_package: str) -> Path:
    """The path of ``name`` (on PATH or in /usr/bin); skip or fail when it is missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
    if found:
        return Path(found)
    reason = f"{name} is not installed (apt-get install {debian_package})"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
