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
# Under pytest-xdist the main process makes it and its workers share it (the cache is safe for
# concurrent commands), so an environment is synthesized once per session, not once per worker.
# `make test` makes one for its two pytest runs (the conformance layer's `local up` finds the
# assembly the other layers' run synthesized) and removes it; a cache the caller gives is never
# removed here.
_SHARED_CACHE_VARIABLE = "BLOG_INFRA_TEST_SESSION_CACHE"
_inherited = os.environ.get(_SHARED_CACHE_VARIABLE)
if _inherited:
    Path(_inherited).mkdir(parents=True, exist_ok=True)
_SESSION_CACHE = _inherited or tempfile.mkdtemp(prefix="blog-infra-test-cache-")
os.environ[_SHARED_CACHE_VARIABLE] = _SESSION_CACHE
os.environ["BLOG_INFRA_CACHE_DIR"] = _SESSION_CACHE
os.environ.pop("BLOG_INFRA_NO_CACHE", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _inherited:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


SLOW_FIXTURES = frozenset({"gate_reports", "pg_server", "lean_prod_template"})
"""Fixtures whose tests cost seconds each or tens of seconds at once (`gate_reports`: the five real
gates on prod and local, about 45 s; `pg_server`: SQL on a real PostgreSQL server, about 16 s in all;
`lean_prod_template`: a third whole-app synthesis, 5-7 s on each worker): a test using one is `slow`
(out of `make test-fast`), whether or not it says so."""


SHARED_FIXTURES = {
    "tests.integration.conftest.platform": "shared-platform",
    "tests.gates.conftest.gate_reports": "gate-reports",
    "tests.unit.rds_bootstrap.conftest.pg_server": "pg-server",
}
"""Session fixtures too costly to set up once per pytest-xdist worker (the deployed local platform,
the five real gates on both environments, a PostgreSQL server), and the group of each."""

SHARED_MODULES = {
    "tests/integration/test_day0_images.py": "shared-platform",
    "tests/integration/test_local_applications.py": "shared-platform",
    "tests/integration/test_local_platform.py": "shared-platform",
    "tests/integration/test_observability_deployed.py": "shared-platform",
    "tests/integration/test_ops.py": "shared-platform",
    "tests/integration/test_replacement_guard.py": "shared-platform",
    "tests/integration/test_secrets_hygiene.py": "shared-platform",
    "tests/integration/test_verify_as_ci.py": "shared-platform",
    "tests/integration/test_zz_teardown.py": "shared-platform",
    "tests/gates/test_check_command.py": "gate-reports",
    "tests/gates/test_gates.py": "gate-reports",
    "tests/gates/test_iam_reference.py": "gate-reports",
    "tests/unit/rds_bootstrap/test_handler.py": "pg-server",
    "tests/unit/rds_bootstrap/test_rotation.py": "pg-server",
}
"""The test modules of each group: one worker runs all of a group, in file order (the platform's
teardown last). The scheduler sees only test ids, hence a list of modules; collection refuses a
module that uses a shared fixture without being listed here with its group."""


def _shared_groups(item: pytest.Item) -> set[str]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    groups = set()
    for name, definitions in info.name2fixturedefs.items():
        group = SHARED_FIXTURES.get(f"{definitions[-1].func.__module__}.{name}")
        if group is not None:
            groups.add(group)
    return groups


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        module = item.nodeid.split("::")[0]
        for group in _shared_groups(item):
            if SHARED_MODULES.get(module) != group:
                raise pytest.UsageError(
                    f"{module} uses a fixture of the {group!r} group: add it to SHARED_MODULES in "
                    "tests/conftest.py, so that one pytest-xdist worker runs the whole group"
                )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's own grouping (`--dist loadgroup`) renames test ids in a way pytest 9 ignores, so
    the groups are made here: a module of SHARED_MODULES belongs to its group, any other module is a
    unit of its own, so that a module-scoped fixture (a platform of its own, a synthesis) is set up
    on one worker, not on each that runs one of its tests."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return SHARED_MODULES.get(module, module)

    return SharedFixtureScheduling(config, log)


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
def synthesized_stacks(prod_config: Any, local_config: Any) -> dict[str, Any]:
    """Both environments' root stacks (`PlatformStack`), keyed by environment name."""
    from infra.app import build_app

    return {config.name: build_app(config)[1] for config in (prod_config, local_config)}


@pytest.fixture(scope="session")
def synthesized(synthesized_stacks: dict[str, Any]) -> dict[str, Any]:
    """Both environments' root stacks as `assertions.Template`, keyed by environment name."""
    from aws_cdk.assertions import Template

    return {name: Template.from_stack(stack) for name, stack in synthesized_stacks.items()}


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
