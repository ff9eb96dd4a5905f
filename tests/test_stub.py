"""The hand-written `_core.pyi` matches the compiled module."""

from __future__ import annotations

import subprocess
import sys


def test_core_stub_matches_runtime() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "robust_xlt._core"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
