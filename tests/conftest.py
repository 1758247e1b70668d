"""Suite-wide fixtures: Hypothesis profiles, time budgets per suite, PostgreSQL."""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from cli.logs import configure_logging
from tests.support.databases import new_postgres_url, new_sqlite_url, prepare_template
from tests.support.leaks import LeakDetector
from tests.support.pki import Pki, build_pki
from tests.support.postgres import PgCluster

if TYPE_CHECKING:
    from collections.abc import Iterator

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
configure_logging("info", "json")  # JSON on stderr, as in production; never on stdout
LEAKS = LeakDetector()
logging.getLogger().addHandler(LEAKS)  # every record of the session is scanned

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Suite -> (per-test timeout in seconds, budget for the whole suite in seconds).
BUDGETS = {
    "unit": (10, 60),
    "property": (120, 240),
    "integration": (120, 600),
    "slow": (1800, 3600),
}
TESTS_ROOT = Path(__file__).parent
_durations: dict[str, float] = defaultdict(float)
_counts: dict[str, int] = defaultdict(int)


def _suite(item: pytest.Item) -> str:
    if item.get_closest_marker("slow"):
        return "slow"
    parts = Path(str(item.fspath)).relative_to(TESTS_ROOT).parts
    return parts[0] if parts[0] in BUDGETS else "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = _suite(item)
        item.add_marker(getattr(pytest.mark, suite))
        if not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(BUDGETS[suite][0]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        _durations[_suite(item)] += time.perf_counter() - started
        _counts[_suite(item)] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    if LEAKS.findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEAKS.findings:
        terminalreporter.section("personal data in log output", red=True)
        for logger, value in LEAKS.findings:
            terminalreporter.write_line(f"{logger}: {value}")
    if not _counts:
        return
    terminalreporter.section("suite timings (test bodies)")
    for suite, total in sorted(_durations.items()):
        budget = BUDGETS[suite][1]
        flag = "" if total <= budget else "  OVER BUDGET"
        terminalreporter.write_line(
            f"{suite:12} {_counts[suite]:5d} tests {total:8.1f} s  (budget {budget} s){flag}"
        )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server: EXPERT_DRAW_TEST_PG_URL, or a throwaway cluster."""
    given = os.environ.get("EXPERT_DRAW_TEST_PG_URL")
    if given:
        prepare_template(given)
        yield given
        return
    if os.environ.get("EXPERT_DRAW_TEST_PG") == "skip":
        pytest.skip("PostgreSQL tests skipped by EXPERT_DRAW_TEST_PG=skip")
    cluster = PgCluster()
    try:
        url = cluster.launch()
        prepare_template(url)
        yield url
    finally:
        cluster.destroy()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return new_sqlite_url(tmp_path)
    return new_postgres_url(request.getfixturevalue("pg_server_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database without any schema, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return new_sqlite_url(tmp_path, migrated=False)
    return new_postgres_url(request.getfixturevalue("pg_server_url"), migrated=False)
