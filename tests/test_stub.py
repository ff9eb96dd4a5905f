"""The hand-written `_core.pyi` matches the compiled module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_core_stub_matches_runtime() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "robust_xlt._core"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_tests_scripts_and_benches_type_check() -> None:
    # The package is typed (py.typed); the tests, benches and scripts are checked too, because a test that
    # calls an API with the wrong shape is usually testing something other than it says.
    # benches/ is its own run: its conftest.py and the tests' share a module name.
    root = Path(__file__).resolve().parent.parent
    for paths in (["python", "tests", "scripts"], ["benches"]):
        result = subprocess.run(
            [sys.executable, "-m", "mypy", *paths], cwd=root, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stdout + result.stderr
