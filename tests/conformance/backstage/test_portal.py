"""The portal's task definition, run: a stock Backstage backend started with exactly the prod task
definition's environment and secrets (as a freshly deployed platform holds them), user, read-only
root and tmpfs, against TLS-only PostgreSQL and the role the platform's bootstrap creates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from blog_infra.sandbox.node import NodePackage
from blog_infra.sandbox.services import TlsPostgres
from blog_infra.sandbox.tls import CertificateAuthority
from infra.modules.apps.backstage import construct as portal
from tests.conformance.backstage.conftest import (
    BACKEND_SOURCE,
    Platform,
    http_status,
    sandbox_workdir,
    start_portal,
    task_environment,
    tls_sessions,
    wait_for,
)

STARTUP_FAILED = "Backend startup failed"


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        return {
            k: v
            for key, inner in value.items()
            for k, v in _flatten(inner, f"{prefix}.{key}".lstrip(".")).items()
        }
    if isinstance(value, list):
        return {k: v for i, inner in enumerate(value) for k, v in _flatten(inner, f"{prefix}[{i}]").items()}
    return {prefix: str(value).lower() if isinstance(value, bool) else str(value)}


def test_the_stock_backend_carries_the_configuration_the_contract_asks_of_the_image() -> None:
    # GIVEN the stand-in image's app-config files, as the backend merges them (production last)
    merged: dict[str, str] = {}
    for name in ("app-config.yaml", "app-config.production.yaml"):
        merged |= _flatten(yaml.safe_load((BACKEND_SOURCE / name).read_text()))
    # THEN every key docs/portal-contract.md asks for has the value it asks for, so the runs below
    # check the contract and not another configuration
    assert {key: merged.get(key) for key, _, _ in portal.IMAGE_CONFIG} == {
        key: value for key, value, _ in portal.IMAGE_CONFIG
    }


def test_a_fresh_platform_gives_the_portal_no_empty_variable(platform: Platform) -> None:
    # GIVEN the secrets as a fresh deployment holds them (the app secret still a placeholder)
    environment = task_environment(platform.container, platform.store)
    # THEN every variable ECS sets is non-empty: Backstage refuses an empty config value
    assert sorted(name for name, value in environment.items() if value == "") == []
    # AND the database login the bootstrap wrote reaches the container complete
    for name in portal.DATABASE_SECRETS:
        assert environment[name], name


def test_the_portal_starts_ready_over_verified_tls(
    platform: Platform,
    stock_backend: NodePackage,
    postgres: TlsPostgres,
    ca: CertificateAuthority,
    bundle_mount_point: str,
    database_host: str,
    sandbox_dir: Path,
) -> None:
    container_definition = platform.container
    health = container_definition.health_check
    assert health is not None and container_definition.stop_timeout is not None
    # GIVEN the task's environment with a fresh platform's secrets
    environment = task_environment(container_definition, platform.store)
    # WHEN the backend starts as the task runs it
    started = start_portal(
        platform,
        environment,
        backend=stock_backend,
        ca=ca,
        bundle_path=bundle_mount_point,
        database_host=database_host,
        workdir=sandbox_workdir(sandbox_dir, f"ready-{platform.profile}"),
        name=f"portal-{platform.profile}",
    )
    try:
        # THEN it is ready within the container health check's start period
        wait_for(
            lambda: http_status(portal.READINESS_PATH) == 200,
            timeout=health.start_period,
            container=started,
            what="readiness did not answer 200",
        )
        assert STARTUP_FAILED not in started.log()
        # AND the server sees its database sessions as TLS (certificate verified against the bundle:
        # the connection sets rejectUnauthorized and the server's CA is only in that bundle)
        sessions = tls_sessions(postgres, environment["POSTGRES_USER"])
        assert sessions, "the portal holds no database session"
        assert all(ssl is True for ssl, _ in sessions), sessions
        assert {version for _, version in sessions} <= {"TLSv1.2", "TLSv1.3"}
        # AND the task's container health check passes
        result = started.health_check(health.command, timeout=health.timeout)
        assert result.returncode == 0, result.stderr
        # AND SIGTERM stops it within the task's stop timeout
        took = started.stop(container_definition.stop_timeout)
        assert took is not None, "the portal ignored SIGTERM until it was killed"
        assert took <= container_definition.stop_timeout
    finally:
        started.kill()


def test_a_portal_whose_start_failed_fails_its_container_health_check(
    platform: Platform,
    stock_backend: NodePackage,
    ca: CertificateAuthority,
    bundle_mount_point: str,
    database_host: str,
    sandbox_dir: Path,
) -> None:
    container_definition = platform.container
    health = container_definition.health_check
    assert health is not None
    # GIVEN the task's environment with a database password the server refuses
    environment = task_environment(container_definition, platform.store) | {"POSTGRES_PASSWORD": "wrong"}
    started = start_portal(
        platform,
        environment,
        backend=stock_backend,
        ca=ca,
        bundle_path=bundle_mount_point,
        database_host=database_host,
        workdir=sandbox_workdir(sandbox_dir, f"failed-{platform.profile}"),
        name=f"portal-failed-{platform.profile}",
    )
    try:
        # WHEN the backend's start fails
        wait_for(
            lambda: STARTUP_FAILED in started.log(),
            timeout=health.start_period,
            container=started,
            what=f"the log did not say {STARTUP_FAILED!r}",
        )
        # THEN the process lives on, answering liveness 200 and readiness 503
        assert started.running()
        assert http_status(portal.LIVENESS_PATH) == 200
        assert http_status(portal.READINESS_PATH) == 503
        # AND the task's container health check fails, so ECS replaces the task
        result = started.health_check(health.command, timeout=health.timeout)
        assert result.returncode != 0
    finally:
        started.kill()


def test_the_portal_verifies_the_database_certificate_against_the_bundle(
    platform: Platform,
    stock_backend: NodePackage,
    ca: CertificateAuthority,
    bundle_mount_point: str,
    database_host: str,
    sandbox_dir: Path,
) -> None:
    container_definition = platform.container
    health = container_definition.health_check
    assert health is not None
    # GIVEN an image whose CA bundle does not hold the database's CA
    empty_bundle = sandbox_workdir(sandbox_dir, "bundles") / "empty.pem"
    empty_bundle.write_text("")
    empty_bundle.chmod(0o644)
    started = start_portal(
        platform,
        task_environment(container_definition, platform.store),
        backend=stock_backend,
        ca=ca,
        bundle_path=bundle_mount_point,
        database_host=database_host,
        workdir=sandbox_workdir(sandbox_dir, f"unverified-{platform.profile}"),
        name=f"portal-unverified-{platform.profile}",
        bundle_source=empty_bundle,
    )
    try:
        # THEN its start fails on the certificate, not later
        wait_for(
            lambda: STARTUP_FAILED in started.log(),
            timeout=health.start_period,
            container=started,
            what=f"the log did not say {STARTUP_FAILED!r}",
        )
        assert "unable to verify the first certificate" in started.log()
        assert http_status(portal.READINESS_PATH) == 503
    finally:
        started.kill()
