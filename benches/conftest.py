"""Benchmarks: timed under `pytest --benchmark-only`, run once untimed otherwise.

Every benchmark names the data it ran on: a bench module defines a `benchmark_data`
fixture (a one-line description: paths and counts, or the built-in fixture and that
its numbers are not comparable with the README's), which goes into each benchmark's
`extra_info["data"]` (and so into --benchmark-json) and is printed after the run.
The shared data is found as the tests find it (tests/conftest.py: $ROBUST_XLT_DATA,
else ../shared/data; archives or unpacked folders).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent / "tests"
# The pure-Python references live with the tests.
sys.path.insert(0, str(TESTS))


def _load_tests_conftest():
    """tests/conftest.py under a private name: `import conftest` would get whichever
    conftest pytest imported last."""
    spec = importlib.util.spec_from_file_location("_robust_xlt_tests_conftest", TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_tests_conftest = _load_tests_conftest()
SharedData = _tests_conftest.SharedData
shared_data = _tests_conftest.shared_data  # the fixture, so benches find data as tests do


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # A plain `pytest` must stay fast: each benchmark body then runs once, as a
    # test. Timing is asked for with --benchmark-only or --benchmark-enable.
    if not config.getoption("benchmark_only", False) and not config.getoption("benchmark_enable", False):
        config.option.benchmark_disable = True
    config.stash[_REPORT] = BenchReport()


class BenchReport:
    """What the terminal summary prints after the benchmarks: the data each bench file
    ran on, and sections (tables) that bench modules add."""

    def __init__(self) -> None:
        self.data: dict[str, list[str]] = {}  # bench file -> the distinct descriptions, in order
        self.sections: list[tuple[str, list[str]]] = []

    def name_data(self, benchmark, description: str) -> None:
        benchmark.extra_info["data"] = description
        seen = self.data.setdefault(benchmark.fullname.split("::")[0], [])
        if description not in seen:
            seen.append(description)

    def section(self, title: str, lines: list[str]) -> None:
        self.sections.append((title, lines))


_REPORT = pytest.StashKey[BenchReport]()


@pytest.fixture(scope="session")
def bench_report(pytestconfig: pytest.Config) -> BenchReport:
    return pytestconfig.stash[_REPORT]


@pytest.fixture(autouse=True)
def _name_benchmark_data(request: pytest.FixtureRequest, bench_report: BenchReport) -> None:
    if "benchmark" not in request.fixturenames:
        return
    try:
        description = request.getfixturevalue("benchmark_data")
    except pytest.FixtureLookupError:
        description = "unnamed: this bench module defines no benchmark_data fixture"
    bench_report.name_data(request.getfixturevalue("benchmark"), description)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None or not (report.data or report.sections):
        return
    if report.data:
        timed = not config.getoption("benchmark_disable", False)
        terminalreporter.section(f"benchmark data ({'timed' if timed else 'untimed: --benchmark-disable'})")
        for file, descriptions in report.data.items():
            for description in descriptions:
                terminalreporter.line(f"{file}: {description}")
    for title, lines in report.sections:
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.line(line)
