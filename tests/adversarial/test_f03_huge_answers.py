"""Finding 3: a huge answer from the MDM fails the sweep instead of eating the memory."""

from __future__ import annotations

import resource
from pathlib import Path

from monitor.cli import EXIT_SOURCE
from monitor.sources.http import MAX_BODY_BYTES
from tests.adversarial.hostile import hostile_kandji, run_cli, write_config

TOKEN = "hostile-test-token-0003"


async def test_a_body_far_over_the_cap_fails_the_sweep_within_bounded_memory(
    tmp_path: Path,
) -> None:
    huge = 8 * MAX_BODY_BYTES  # 256 MiB streamed
    async with hostile_kandji(huge=huge) as kandji:
        cfg = write_config(tmp_path, kandji.base_url, TOKEN)
        res = await run_cli("once", "-c", str(cfg))
        sent = kandji.bytes_sent
    assert res.returncode == EXIT_SOURCE, res.stderr
    assert "over 32 MiB" in res.stdout + res.stderr
    assert sent < huge, "the monitor stopped reading"
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 600 * 1024, f"the child peaked at {peak_kib // 1024} MiB"
