"""Each container's role credentials, served as ECS serves them: over HTTP, refreshed before they expire.

On AWS, ECS assumes a task's role (`taskRoleArn`) as the service principal `ecs-tasks.amazonaws.com`
and serves the session to the task's containers at an HTTP endpoint the SDKs read through
`AWS_CONTAINER_CREDENTIALS_*`; a task without a task role gets no credentials (Amazon ECS Developer
Guide, "Amazon ECS task IAM role"). Here `ContainerCredentials` is that endpoint, on 127.0.0.1:

- `register(session)` issues the role's first session at once (so a role the service may not assume
  fails the task before it starts, `RoleRefused`) and answers the environment a container gets:
  `AWS_CONTAINER_CREDENTIALS_FULL_URI` (a path of its own, `/v2/credentials/<id>`) and
  `AWS_CONTAINER_AUTHORIZATION_TOKEN` (a random token of its own). A request without that token in
  its `Authorization` header is refused (401), so one container cannot read another's credentials.
- GET of the path answers `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}`,
  ECS's format. botocore reads `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`
  (`botocore/credentials.py`, `ContainerProvider._create_fetcher`) and sends the token as the
  `Authorization` header (`_build_headers`); the AWS SDK for JavaScript v3 requires the same four
  strings, Expiration in RFC 3339 (`@aws-sdk/credential-provider-http`, `getCredentials`).
- An http FULL_URI must name a loopback address (botocore `utils.ContainerMetadataFetcher.
  _validate_allowed_url`: "Can only retrieve metadata from a loopback address or one of these hosts";
  the JavaScript SDK's `checkUrl` accepts 127.0.0.0/8 and `localhost`), hence 127.0.0.1: containers
  on this machine's network reach it. A container in a task network of its own (`TaskNetworks`) cannot
  reach this machine's loopback; it gets no FULL_URI (see `SandboxPlatform.spec`).
- Renewal: botocore's `RefreshableCredentials` refreshes when fewer than 15 minutes remain
  (`_DEFAULT_ADVISORY_REFRESH_TIMEOUT = 15 * 60`) and fails a call when the refreshed credentials
  still have fewer than 10 (`_DEFAULT_MANDATORY_REFRESH_TIMEOUT`, "Credentials were refreshed, but
  the refreshed credentials are still expired"). So sessions last `duration` (one hour, the default
  `MaxSessionDuration`) and a request for credentials with fewer than `renew_before` (30 minutes)
  left first gets a new session from the emulator: what is served always has more than 15 minutes.

`sessions` are issued by `EmulatorIssuer`: the emulator's service-principal endpoint
(`emulator.service_credentials`), which checks the role's trust policy for the service. No credential
is logged or written anywhere; errors name the role and the service only.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECS_TASKS = "ecs-tasks.amazonaws.com"
SERVICE_CREDENTIALS_PATH = "/_emulator/sts/service-role-credentials"
DEFAULT_DURATION = 3600
DEFAULT_RENEW_BEFORE = 1800
FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
AUTHORIZATION_TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class CredentialsError(Exception):
    """The emulator could not issue a role's session; the message names the role, never a credential."""


class RoleRefused(CredentialsError):
    """The role's trust policy does not let the service assume it."""


@dataclass(frozen=True)
class RoleSession:
    """A request for a service's session of a role, on behalf of one task or function."""

    role_arn: str
    session_name: str
    service: str = ECS_TASKS
    source_account: str | None = None
    source_arn: str | None = None
    """`aws:SourceAccount` / `aws:SourceArn` as the service sets them (the task's ARN for ECS)."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    role_arn: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials(role_arn={self.role_arn!r}, expiration={self.expiration.isoformat()})"

    def served(self) -> dict[str, str]:
        """ECS's container-credentials answer."""
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RoleArn": self.role_arn,
        }

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's execution role session."""
        values = (self.access_key_id, self.secret_access_key, self.session_token)
        return dict(zip(KEY_VARIABLES, values, strict=True))


Issuer = Callable[[RoleSession, int], Credentials]
"""(session, duration in seconds) -> a new session's credentials; `RoleRefused` / `CredentialsError`."""


@dataclass(frozen=True)
class EmulatorIssuer:
    """Sessions from the emulator's service-principal endpoint."""

    endpoint: str
    region: str = "us-east-1"

    def __call__(self, session: RoleSession, duration: int) -> Credentials:
        body = {
            "service": session.service,
            "roleArn": session.role_arn,
            "sessionName": session.session_name,
            "durationSeconds": duration,
            "region": self.region,
        }
        if session.source_account:
            body["sourceAccount"] = session.source_account
        if session.source_arn:
            body["sourceArn"] = session.source_arn
        request = urllib.request.Request(
            self.endpoint + SERVICE_CREDENTIALS_PATH,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = str(json.loads(error.read() or b"{}").get("error", error))
            except ValueError:
                message = (
                    f"the emulator at {self.endpoint} does not answer {SERVICE_CREDENTIALS_PATH} "
                    f"(HTTP {error.code}): it was started by an older blog-infra; "
                    "run 'make down' and 'make up'"
                )
            raise (RoleRefused if error.code == 403 else CredentialsError)(message) from None
        except OSError as exc:
            raise CredentialsError(f"the emulator at {self.endpoint} did not answer: {exc}") from None
        return Credentials(
            access_key_id=answer["AccessKeyId"],
            secret_access_key=answer["SecretAccessKey"],
            session_token=answer["SessionToken"],
            expiration=datetime.strptime(answer["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            role_arn=answer["RoleArn"],
        )


@dataclass
class _Served:
    session: RoleSession
    token: str
    credentials: Credentials
    lock: threading.Lock


class ContainerCredentials:
    """The credentials endpoint of the sandbox's containers (a context manager: serves while open)."""

    def __init__(
        self,
        issue: Issuer,
        *,
        duration: int = DEFAULT_DURATION,
        renew_before: int = DEFAULT_RENEW_BEFORE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < renew_before < duration:
            raise ValueError(f"renew_before ({renew_before} s) must be less than duration ({duration} s)")
        self.issue = issue
        self.duration = duration
        self.renew_before = renew_before
        self.clock = clock
        self._served: dict[str, _Served] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        if self._server is None:
            raise RuntimeError("the credentials endpoint is not serving")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ContainerCredentials:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, answer = endpoint.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: a request line names a container's path, which is all an attacker needs
                besides its token; nothing here is worth a log line."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="container-credentials", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            self._served.clear()

    def register(self, session: RoleSession) -> dict[str, str]:
        """Issue `session` now and answer the environment of the container that may read it."""
        credentials = self.issue(session, self.duration)
        identifier = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._served[identifier] = _Served(session, token, credentials, threading.Lock())
        return {FULL_URI: f"{self.address}/v2/credentials/{identifier}", AUTHORIZATION_TOKEN: token}

    def revoke(self, environment: Mapping[str, str]) -> None:
        """Stop serving the credentials of the container with this environment (its task stopped)."""
        identifier = environment.get(FULL_URI, "").rsplit("/", 1)[-1]
        with self._lock:
            self._served.pop(identifier, None)

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, str]]:
        """(HTTP status, body) for a GET of `path` with this `Authorization` header."""
        prefix = "/v2/credentials/"
        with self._lock:
            served = self._served.get(path[len(prefix) :]) if path.startswith(prefix) else None
        if served is None:
            return 404, {"Code": "NotFound", "Message": "no credentials are served at this path"}
        if authorization is None or not hmac.compare_digest(authorization.encode(), served.token.encode()):
            return 401, {"Code": "AccessDenied", "Message": "the authorization token is not this path's"}
        with served.lock:
            left = served.credentials.expiration.timestamp() - self.clock()
            if left < self.renew_before:
                try:
                    served.credentials = self.issue(served.session, self.duration)
                except CredentialsError as exc:
                    return 500, {"Code": "RenewalFailed", "Message": str(exc)}
            return 200, served.credentials.served()

    def session(self, session: RoleSession) -> Credentials:
        """A session for the sandbox's own use on a task's behalf (the execution role's), not served."""
        return self.issue(session, self.duration)
