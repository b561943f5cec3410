"""The portal's conformance fixtures: a stock Backstage backend standing in for blog_portal's image,
the prod templates (standard and lean profiles), and a TLS-only PostgreSQL bootstrapped by the
platform's own Aurora bootstrap.

The stock backend (`backend/`: backend-defaults and the catalog, pinned by its lock file) is
installed once with `npm ci` under /opt/blog-infra/sandbox and reused. Its app-config files model
what docs/portal-contract.md asks of the image.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blog_infra.sandbox import ecs_secrets, taskdef
from blog_infra.sandbox.container import Container, ContainerSpec, parse_user, start
from blog_infra.sandbox.node import NodePackage, ensure_package
from blog_infra.sandbox.services import TlsPostgres
from blog_infra.sandbox.tls import CertificateAuthority
from infra.modules.apps.backstage import construct as portal

BACKEND_SOURCE = Path(__file__).parent / "backend"
CONTAINER_NAME = "backstage"
DATABASE_CLUSTER = "AuroraCluster"
PROFILES = ("standard", "lean")
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The Node.js base image's PATH; the stand-in's node goes first, where the image has /usr/local/bin."""
IMAGE_HOME = "/home/node"
"""Docker sets HOME from the image's /etc/passwd entry of the task's uid 1000 (`node`)."""


@pytest.fixture(scope="session")
def stock_backend(sandbox_requirements: None) -> NodePackage:
    began = time.monotonic()
    package = ensure_package(BACKEND_SOURCE)
    print(f"\nstock Backstage backend: {package.root} (ready in {time.monotonic() - began:.1f} s)")
    return package


@dataclass(frozen=True)
class Platform:
    """One profile's prod template, resolved against the sandbox's database."""

    profile: str
    template: Mapping[str, Any]
    resolver: taskdef.Resolver
    container: taskdef.Container
    store: ecs_secrets.SecretStore


def _template(profile: str, *, github_secrets: bool | None = None) -> dict[str, Any]:
    """Prod's template with `profile`; `github_secrets` replaces prod's `backstage.github_secrets`."""
    from aws_cdk.assertions import Template

    from infra.app import build_app
    from infra.config import load_config

    config = load_config("prod", profile=profile)
    if github_secrets is not None:
        backstage = config.backstage.model_copy(update={"github_secrets": github_secrets})
        config = config.model_copy(update={"backstage": backstage})
    _, stack = build_app(config)
    return Template.from_stack(stack).to_json()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def templates() -> dict[str, dict[str, Any]]:
    return {profile: _template(profile) for profile in PROFILES}


def _resolver(template: Mapping[str, Any], port: int | None = None) -> taskdef.Resolver:
    overrides = {f"{DATABASE_CLUSTER}.Endpoint.Port": str(port)} if port else {}
    return taskdef.Resolver(template, account="111111111111", region="us-east-1", overrides=overrides)


@pytest.fixture(scope="session")
def database_host(templates: dict[str, dict[str, Any]]) -> str:
    hosts = {_resolver(t).get_att(DATABASE_CLUSTER, "Endpoint.Address") for t in templates.values()}
    assert len(hosts) == 1, hosts
    return hosts.pop()


@pytest.fixture(scope="session")
def postgres(sandbox_dir: Path, ca: CertificateAuthority, database_host: str) -> Iterator[TlsPostgres]:
    """TLS-only PostgreSQL 15 in which no one but the master may connect to `postgres`: the portal
    must work in its own database alone."""
    with TlsPostgres(sandbox_dir / "portal-postgres", ca, host=database_host) as server:
        server.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC", "postgres")
        yield server


def platform_for(profile: str, template: Mapping[str, Any], postgres: TlsPostgres) -> Platform:
    """The profile's Backstage container and a fresh platform's secrets after the bootstrap ran."""
    resolver = _resolver(template, postgres.port)
    store = ecs_secrets.SecretStore.fresh(template, resolver)
    ecs_secrets.run_bootstrap(template, resolver, store, postgres)
    (container,) = (
        c
        for task in taskdef.containers(template, resolver).values()
        for c in task
        if c.name == CONTAINER_NAME
    )
    return Platform(profile, template, resolver, container, store)


@pytest.fixture(scope="session")
def github_template() -> dict[str, Any]:
    """Prod's standard template with `backstage.github_secrets` on."""
    return _template("standard", github_secrets=True)


@pytest.fixture(scope="session", params=PROFILES)
def platform(
    request: pytest.FixtureRequest, templates: dict[str, dict[str, Any]], postgres: TlsPostgres
) -> Platform:
    profile = str(request.param)
    return platform_for(profile, templates[profile], postgres)


def task_environment(container: taskdef.Container, store: ecs_secrets.SecretStore) -> dict[str, str]:
    """What ECS gives the container: its environment and each `secrets` entry's injected value."""
    environment = dict(container.environment)
    for name, reference in container.secrets.items():
        environment[name] = ecs_secrets.inject(reference, store)
    return environment


@pytest.fixture(scope="session")
def bundle_mount_point(templates: dict[str, dict[str, Any]]) -> Iterator[str]:
    """The image carries the CA bundle at NODE_EXTRA_CA_CERTS; the sandbox binds the sandbox CA's
    bundle there (a stand-in), which needs the path to exist on this machine: made here if missing
    and removed afterwards."""
    paths = {
        c.environment["NODE_EXTRA_CA_CERTS"]
        for t in templates.values()
        for task in taskdef.containers(t, _resolver(t)).values()
        for c in task
        if c.name == CONTAINER_NAME
    }
    assert len(paths) == 1, paths
    target = Path(paths.pop())
    created = [parent for parent in reversed(target.parents) if not parent.exists()]
    made_file = not target.exists()
    for directory in created:
        directory.mkdir()
        directory.chmod(0o755)
    if made_file:
        target.touch(0o644)
    try:
        yield str(target)
    finally:
        if made_file:
            target.unlink(missing_ok=True)
        for directory in reversed(created):
            shutil.rmtree(directory, ignore_errors=True)


def start_portal(
    platform: Platform,
    environment: Mapping[str, str],
    *,
    backend: NodePackage,
    ca: CertificateAuthority,
    bundle_path: str,
    database_host: str,
    workdir: Path,
    name: str,
    bundle_source: Path | None = None,
) -> Container:
    """The stock backend as the image starts it, with the task's user, root, tmpfs and `environment`
    (plus the image's PATH and HOME), the CA bundle (`bundle_source`, by default the sandbox CA's) at
    the task's NODE_EXTRA_CA_CERTS."""
    container = platform.container
    spec = ContainerSpec(
        name=name,
        argv=stand_in_argv(container, backend),
        environment={"PATH": f"{backend.bin}:{IMAGE_PATH}", "HOME": IMAGE_HOME, **environment},
        user=parse_user(container.user),
        read_only_root=container.read_only_root,
        tmpfs=container.tmpfs,
        hosts={database_host: "127.0.0.1"},
        files={bundle_path: bundle_source or ca.bundle},
        working_directory=str(backend.app),
    )
    return start(spec, workdir=workdir)


def stand_in_argv(container: taskdef.Container, backend: NodePackage) -> tuple[str, ...]:
    """The task's command as the stand-in runs it: the image's `node packages/backend` is the stand-in's
    node and its `index.js`; the arguments (the `--config` files) are the task's own."""
    assert container.command is not None, "the task sets no command"
    entry, arguments = (
        container.command[: len(portal.ENTRY_POINT)],
        container.command[len(portal.ENTRY_POINT) :],
    )
    assert entry == portal.ENTRY_POINT, container.command
    return (str(backend.node), "index.js", *arguments)


def http_response(path: str, *, port: int = portal.PORT) -> tuple[int, Mapping[str, str]] | None:
    """(status, headers) of GET http://127.0.0.1:port/path, redirects not followed; None when nothing
    answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    except OSError:
        return None
    finally:
        connection.close()


def http_status(path: str, *, port: int = portal.PORT) -> int | None:
    """The HTTP status of GET http://127.0.0.1:port/path; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def wait_for(condition: Any, *, timeout: float, container: Container, what: str) -> None:
    """Poll `condition()` until true; fail with the container's log tail when it is not (without the
    request lines, which the polling itself fills it with)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if not container.running():
            break
        time.sleep(0.5)
    lines = [line for line in container.log().splitlines() if '"type":"incomingRequest"' not in line]
    tail = "\n".join(lines[-25:])
    pytest.fail(f"{what} within {timeout:.0f} s (running: {container.running()}); log tail:\n{tail}")


def tls_sessions(postgres: TlsPostgres, username: str) -> list[tuple[object, ...]]:
    """(ssl, version) of every session `username` has open, as the server sees them."""
    return postgres.execute(
        "SELECT s.ssl, s.version FROM pg_stat_ssl AS s JOIN pg_stat_activity AS a ON a.pid = s.pid "
        f"WHERE a.usename = '{username}'",
        "postgres",
    )


def secret_json(store: ecs_secrets.SecretStore, arn: str) -> dict[str, Any]:
    return json.loads(store.values[arn])  # type: ignore[no-any-return]


def sandbox_workdir(sandbox_dir: Path, name: str) -> Path:
    directory = sandbox_dir / "portal" / name
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory.parent, 0o755)
    return directory
