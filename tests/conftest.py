"""Shared fixtures: the configurations and the whole app, synthesized once per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
# The assembly cache of a test session is its own: it never serves the developer's entries to a test,
# nor leaves the session's behind (tests that patch the app disable it: `isolated_from_assembly_cache`).
_SESSION_CACHE = tempfile.mkdtemp(prefix="blog-infra-test-cache-")
os.environ["BLOG_INFRA_CACHE_DIR"] = _SESSION_CACHE
os.environ.pop("BLOG_INFRA_NO_CACHE", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


SLOW_FIXTURES = frozenset({"gate_reports", "pg_server"})
"""Fixtures whose tests cost seconds each or tens of seconds at once (`gate_reports`: the five real
gates on prod and local, about 45 s; `pg_server`: SQL on a real PostgreSQL server, about 16 s in all):
a test using one is `slow` (out of `make test-fast`), whether or not it says so."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def isolated_from_assembly_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test that patches how the app is composed: its synthesis is neither served from the
    assembly cache nor stored in it (the inputs it is keyed by are unchanged)."""
    monkeypatch.setenv("BLOG_INFRA_NO_CACHE", "1")


@pytest.fixture(scope="session")
def prod_config() -> Any:
    from infra.config import load_config

    return load_config("prod")


@pytest.fixture(scope="session")
def local_config() -> Any:
    from infra.config import load_config

    return load_config("local")


@pytest.fixture(scope="session")
def synthesized(prod_config: Any, local_config: Any) -> dict[str, Any]:
    """Both environments' root stacks as `assertions.Template`, keyed by environment name."""
    from aws_cdk.assertions import Template

    from infra.app import build_app

    result = {}
    for config in (prod_config, local_config):
        _, stack = build_app(config)
        result[config.name] = Template.from_stack(stack)
    return result


@pytest.fixture(scope="session")
def lean_prod_template(prod_config: Any) -> dict[str, Any]:
    """prod's root stack under the lean profile, as a template dictionary."""
    from blog_infra.cost import synthesize_template
    from infra.config import load_config

    return synthesize_template(load_config(prod_config.name, profile="lean"))


@pytest.fixture(scope="session")
def prod_template(synthesized: dict[str, Any]) -> Any:
    return synthesized["prod"]


@pytest.fixture(scope="session")
def local_template(synthesized: dict[str, Any]) -> Any:
    return synthesized["local"]
