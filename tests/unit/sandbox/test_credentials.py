"""The sandbox's container-credentials endpoint, read by botocore's own ECS container provider."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.credentials import ContainerProvider
from botocore.exceptions import CredentialRetrievalError
from botocore.utils import ContainerMetadataFetcher

from blog_infra.sandbox.credentials import (
    AUTHORIZATION_TOKEN,
    FULL_URI,
    ContainerCredentials,
    Credentials,
    RoleRefused,
    RoleSession,
)
from blog_infra.sandbox.node import NodePackage, ensure_package

ROLE = "arn:aws:iam::123456789012:role/flow-run-task"
SESSION = RoleSession(role_arn=ROLE, session_name="0123456789abcdef")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


class FakeIssuer:
    """The emulator's endpoint: a new key per session, expiring `duration` after the clock's now."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.counter = itertools.count(1)
        self.issued: list[tuple[RoleSession, int]] = []
        self.refuse: set[str] = set()

    def __call__(self, session: RoleSession, duration: int) -> Credentials:
        if session.role_arn in self.refuse:
            raise RoleRefused(f"{session.role_arn} does not trust {session.service} to assume it")
        self.issued.append((session, duration))
        number = next(self.counter)
        return Credentials(
            access_key_id=f"ASIA{number:016d}",
            secret_access_key=f"secret-{number}",
            session_token=f"token-{number}",
            expiration=datetime.fromtimestamp(self.clock() + duration, UTC),
            role_arn=session.role_arn,
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> FakeIssuer:
    return FakeIssuer(clock)


@pytest.fixture
def endpoint(issuer: FakeIssuer, clock: Clock) -> Iterator[ContainerCredentials]:
    with ContainerCredentials(issuer, duration=1200, renew_before=960, clock=clock) as served:
        yield served


def _provider(environment: dict[str, str]) -> ContainerProvider:
    return ContainerProvider(environ=environment, fetcher=ContainerMetadataFetcher(sleep=lambda _: None))


def test_botocores_container_provider_reads_the_role_session(endpoint: ContainerCredentials) -> None:
    # GIVEN a container registered for its task role
    environment = endpoint.register(SESSION)
    assert environment[FULL_URI].startswith("http://127.0.0.1:")
    # WHEN botocore's ECS provider loads credentials from that environment
    credentials = _provider(environment).load()
    # THEN it gets the session, with its expiry, and knows how to refresh it
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        "ASIA0000000000000001",
        "secret-1",
        "token-1",
    )
    assert credentials.method == "container-role"
    assert 1190 < (credentials._expiry_time - datetime.now(UTC)).total_seconds() <= 1200


def test_a_wrong_or_missing_token_is_refused(endpoint: ContainerCredentials) -> None:
    environment = endpoint.register(SESSION)
    with pytest.raises(CredentialRetrievalError, match="non 200 response 401"):
        _provider({FULL_URI: environment[FULL_URI], AUTHORIZATION_TOKEN: "not-the-token"}).load()
    with pytest.raises(CredentialRetrievalError, match="non 200 response 401"):
        _provider({FULL_URI: environment[FULL_URI]}).load()


def test_one_containers_token_does_not_read_anothers_credentials(endpoint: ContainerCredentials) -> None:
    first = endpoint.register(SESSION)
    second = endpoint.register(RoleSession(role_arn=ROLE.replace("task", "other"), session_name="second"))
    assert first[AUTHORIZATION_TOKEN] != second[AUTHORIZATION_TOKEN]
    path = "/" + first[FULL_URI].split("/", 3)[3]
    assert endpoint.answer(path, second[AUTHORIZATION_TOKEN])[0] == 401
    assert endpoint.answer(path, first[AUTHORIZATION_TOKEN])[1]["RoleArn"] == ROLE


def test_a_revoked_containers_path_is_gone(endpoint: ContainerCredentials) -> None:
    environment = endpoint.register(SESSION)
    endpoint.revoke(environment)
    path = "/" + environment[FULL_URI].split("/", 3)[3]
    assert endpoint.answer(path, environment[AUTHORIZATION_TOKEN])[0] == 404


def test_a_role_the_service_may_not_assume_fails_the_registration(
    endpoint: ContainerCredentials, issuer: FakeIssuer
) -> None:
    issuer.refuse.add(ROLE)
    with pytest.raises(RoleRefused, match=r"does not trust ecs-tasks\.amazonaws\.com"):
        endpoint.register(SESSION)


def test_the_endpoint_renews_before_botocore_would_need_to(
    endpoint: ContainerCredentials, issuer: FakeIssuer, clock: Clock
) -> None:
    # GIVEN botocore holding a 20-minute session, its clock the endpoint's
    environment = endpoint.register(SESSION)
    credentials = _provider(environment).load()
    credentials._time_fetcher = lambda: datetime.fromtimestamp(clock(), UTC)
    assert credentials.get_frozen_credentials().access_key == "ASIA0000000000000001"
    # WHEN 4 minutes pass (16 left: botocore does not refresh yet, the endpoint would not renew)
    clock.now += 240
    assert credentials.get_frozen_credentials().access_key == "ASIA0000000000000001"
    assert len(issuer.issued) == 1
    # AND 2 more (14 left: inside botocore's 15-minute advisory window)
    clock.now += 120
    # THEN botocore refreshes, and the endpoint, with fewer than renew_before left, issued a new session
    renewed = credentials.get_frozen_credentials()
    assert renewed.access_key == "ASIA0000000000000002" and renewed.token == "token-2"
    assert [duration for _, duration in issuer.issued] == [1200, 1200]
    assert (credentials._expiry_time.timestamp() - clock()) == pytest.approx(1200, abs=1)


def test_renew_before_must_leave_a_served_session_time(issuer: FakeIssuer) -> None:
    with pytest.raises(ValueError, match="must be less than duration"):
        ContainerCredentials(issuer, duration=900, renew_before=900)


def test_credentials_never_print_their_secrets(issuer: FakeIssuer) -> None:
    issued = issuer(SESSION, 900)
    assert "secret-1" not in repr(issued) and "token-1" not in repr(issued)


@pytest.fixture(scope="module")
def javascript_sdk() -> NodePackage:
    """The stock Backstage backend the conformance layer runs, installed as that layer installs it: its
    node_modules hold the JavaScript SDK v3's HTTP credential provider. (`make test` installs it
    beforehand, beside these tests; the test waits for that install rather than skipping.)"""
    from tests.conformance.backstage.conftest import BACKEND_SOURCE

    package = ensure_package(BACKEND_SOURCE)
    assert (
        package.root / "node_modules" / "@aws-sdk" / "credential-provider-http" / "package.json"
    ).is_file()
    return package


@pytest.mark.slow  # starts Node.js: about 3.5 s (and installs the backend if nothing did)
def test_the_javascript_sdks_http_provider_reads_it_and_is_refused_a_wrong_token(
    endpoint: ContainerCredentials, javascript_sdk: NodePackage
) -> None:
    environment = endpoint.register(SESSION)
    script = (
        "require('@aws-sdk/credential-provider-http').fromHttp({})().then("
        "c => console.log(JSON.stringify({key: c.accessKeyId, token: c.sessionToken})),"
        "e => { console.error(e.message); process.exit(1); })"
    )

    def run(variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
        base = {"PATH": "/usr/bin:/bin", "NODE_PATH": str(javascript_sdk.root / "node_modules")}
        return subprocess.run(
            [str(javascript_sdk.node), "-e", script],
            env=base | variables,
            capture_output=True,
            text=True,
            timeout=60,
        )

    read = run(environment)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout) == {"key": "ASIA0000000000000001", "token": "token-1"}
    refused = run({**environment, AUTHORIZATION_TOKEN: "not-the-token"})
    assert refused.returncode == 1 and "status: 401" in refused.stderr
