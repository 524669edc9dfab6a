"""Node test files of tests/js run from a Python suite (the matrix's browser and kit tests), one after the other."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def run(*names: str, timeout: float = 300) -> None:
    """``node --test`` over ``tests/js/<name>`` each (every file resets the emulators, so never two at once);
    fails with the end of their output when any test fails."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    files = [str(ROOT / "tests" / "js" / name) for name in names]
    command = [node, "--test", "--test-concurrency=1", "--test-reporter=spec", *files]
    result = subprocess.run(  # noqa: S603 - our own test files
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def screenshot(name: str) -> int:
    """The size in bytes of ``artifacts/<name>.png`` (a blank page is a few kilobytes)."""
    return (ARTIFACTS / f"{name}.png").stat().st_size
