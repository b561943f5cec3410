"""The portal's task definition, run: a stock Backstage backend started with exactly the prod task
definition's environment and secrets (as a freshly deployed platform holds them), user, read-only
root and tmpfs, against TLS-only PostgreSQL and the role the platform's bootstrap creates."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from blog_infra.sandbox.node import NodePackage
from blog_infra.sandbox.services import TlsPostgres
from blog_infra.sandbox.tls import CertificateAuthority
from infra.modules.apps.backstage import construct as portal
from tests.conformance.backstage.conftest import (
    BACKEND_SOURCE,
    Platform,
    http_response,
    http_status,
    platform_for,
    sandbox_workdir,
    secret_json,
    start_portal,
    task_environment,
    tls_sessions,
    wait_for,
)

STARTUP_FAILED = "Backend startup failed"
GITHUB_KEY_PREFIXES = ("auth.providers.github", "integrations.github")
GITHUB_SIGN_IN_START = "/api/auth/github/start?env=production"
"""The GitHub provider's start route: the auth plugin's routes are under /api/auth, a configured
provider's under /<provider id> (`bindProviderRouters` in @backstage/plugin-auth-backend's
providers/router), `env` names the provider's environment (createOAuthRouteHandlers' `start` in
@backstage/plugin-auth-node)."""
GITHUB_AUTHORIZE = "https://github.com/login/oauth/authorize"


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


def _config_file(name: str) -> dict[str, str]:
    return _flatten(yaml.safe_load((BACKEND_SOURCE / name).read_text()))


def test_the_stock_backend_carries_the_configuration_the_contract_asks_of_the_image() -> None:
    # GIVEN the stand-in image's base app-config files, as the backend merges them (production last)
    merged: dict[str, str] = {}
    for name in portal.BASE_CONFIG_FILES:
        merged |= _config_file(name)
    # THEN every key docs/portal-contract.md asks for has the value it asks for, so the runs below
    # check the contract and not another configuration
    assert {key: merged.get(key) for key, _, _ in portal.IMAGE_CONFIG} == {
        key: value for key, value, _ in portal.IMAGE_CONFIG
    }
    # AND they hold nothing of GitHub's, which only the GitHub file may
    assert [key for key in merged if key.startswith(GITHUB_KEY_PREFIXES)] == []
    # AND the GitHub file holds exactly what the contract asks of it
    assert _config_file(portal.GITHUB_CONFIG_FILE) == {key: value for key, value, _ in portal.GITHUB_CONFIG}


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
        # AND the auth backend runs without GitHub sign-in: the task did not load the GitHub file
        assert http_status(GITHUB_SIGN_IN_START) == 404
        assert "Configuring auth provider: github" not in started.log()
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


TEST_GITHUB_VALUES = {
    "github_token": "conformance-github-token",
    "auth_github_client_id": "Ov23liConformance",
    "auth_github_client_secret": "1234567890",
}
"""What `blog-infra secrets set backstage` would store; the client secret is all digits, which Backstage
would read as a number from an APP_CONFIG_* variable (JSON first) but takes verbatim from `${VAR}`."""


@pytest.fixture(scope="session")
def github_platform(github_template: dict[str, Any], postgres: TlsPostgres) -> Platform:
    """The standard profile with `backstage.github_secrets` on, its app secret holding the GitHub values."""
    platform = platform_for("standard", github_template, postgres)
    arn = platform.container.secrets["AUTH_GITHUB_CLIENT_ID"].arn
    platform.store.put_secret_value(
        SecretId=arn, SecretString=json.dumps(secret_json(platform.store, arn) | TEST_GITHUB_VALUES)
    )
    return platform


def test_with_github_secrets_on_the_portal_starts_with_github_sign_in(
    github_platform: Platform,
    stock_backend: NodePackage,
    ca: CertificateAuthority,
    bundle_mount_point: str,
    database_host: str,
    sandbox_dir: Path,
) -> None:
    container_definition = github_platform.container
    health = container_definition.health_check
    assert health is not None
    # GIVEN the task's environment once the GitHub values are set and the setting is on
    environment = task_environment(container_definition, github_platform.store)
    assert {name: environment.get(name) for name in portal.GITHUB_SECRETS} == {
        name: TEST_GITHUB_VALUES[key] for name, key in portal.GITHUB_SECRETS.items()
    }
    # WHEN the same image starts as the task runs it
    started = start_portal(
        github_platform,
        environment,
        backend=stock_backend,
        ca=ca,
        bundle_path=bundle_mount_point,
        database_host=database_host,
        workdir=sandbox_workdir(sandbox_dir, "github"),
        name="portal-github",
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
        # AND GitHub sign-in starts: a redirect to GitHub's authorize page with the app secret's client id
        # (only a Location header; nothing leaves the machine)
        response = http_response(GITHUB_SIGN_IN_START)
        assert response is not None
        status, headers = response
        assert status == 302, started.log()[-2000:]
        location = urllib.parse.urlsplit(headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == GITHUB_AUTHORIZE
        assert urllib.parse.parse_qs(location.query)["client_id"] == [
            TEST_GITHUB_VALUES["auth_github_client_id"]
        ]
    finally:
        started.kill()
