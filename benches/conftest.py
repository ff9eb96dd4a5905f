"""Benchmarks: timed under `pytest --benchmark-only`, run once untimed otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The pure-Python references live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # A plain `pytest` must stay fast: each benchmark body then runs once, as a
    # test. Timing is asked for with --benchmark-only or --benchmark-enable.
    if not config.getoption("benchmark_only", False) and not config.getoption("benchmark_enable", False):
        config.option.benchmark_disable = True
