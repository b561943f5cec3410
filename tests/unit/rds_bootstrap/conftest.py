"""Fixtures of the bootstrap tests: one real PostgreSQL server per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._postgres import PgExecutor, PgServer, running_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A SCRAM-only PostgreSQL server shared by the session."""
    with running_server() as server:
        yield server


@pytest.fixture
def executor(pg_server: PgServer) -> PgExecutor:
    """Runs the bootstrap's SQL as the server's superuser."""
    return PgExecutor(pg_server)
