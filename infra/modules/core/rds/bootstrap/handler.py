"""Bootstrap of the Aurora cluster's consumers: one database, login role and secret each.

Runs as a CloudFormation custom resource (CDK `custom_resources.Provider`) on Lambda, where only the
standard library and boto3 exist. SQL goes through the RDS Data API as the master user, so the
function needs neither a VPC nor a PostgreSQL driver. Passwords never reach the database: each role's
password is set as a SCRAM-SHA-256 verifier computed here, and neither passwords nor verifiers are
logged or put in error messages.

This directory is deployed alone as the code of two functions: the bootstrap (handler
`handler.on_event`) and the rotation of the consumer logins (`rotation.on_rotate`, which imports this
module as its sibling), so neither imports anything from the project.

Each consumer has two logins (Secrets Manager's alternating-users strategy): `<username>`, which
owns the consumer's database and every object in it, and `<username>_clone`, a member of it whose
sessions start as it (`ALTER ROLE ... SET role`), so objects stay owned by one role whichever login
created them. The consumer's secret names the login its password belongs to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import stringprep
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

ADMIN_DATABASE = "postgres"
ENGINE = "postgres"
SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16
PHYSICAL_ID_PREFIX = "aurora-bootstrap:"
CLONE_SUFFIX = "_clone"
MAX_IDENTIFIER = 63

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_CONSUMER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_VERIFIER = re.compile(
    r"SCRAM-SHA-256\$[1-9][0-9]*:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}"
)
_RESERVED_PREFIXES = ("pg_", "rds")
_RESERVED_NAMES = frozenset(
    {
        "postgres",
        "public",
        "none",
        "all",
        "user",
        "template0",
        "template1",
        "current_role",
        "current_user",
        "session_user",
    }
)
_RETRYABLE_DATA_API_ERRORS = frozenset({"DatabaseResumingException"})
_SASLPREP_PROHIBITED: tuple[Callable[[str], bool], ...] = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,
)


class BootstrapError(Exception):
    """A bootstrap failure; its message names the consumer and step, never a password."""


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return `value` if it is a plain lower-case PostgreSQL identifier, else raise ValueError."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{what} {value!r} must match ^[a-z_][a-z0-9_]{{0,62}}$")
    return value


def quote_identifier(value: str) -> str:
    """Double-quote a validated identifier."""
    validate_identifier(value)
    return '"' + value.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Single-quote a string literal (standard_conforming_strings, the default since 9.1)."""
    if "\x00" in value:
        raise ValueError("string literals cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Consumer:
    """A consumer of the cluster: its database and the login role that owns it."""

    name: str
    database: str
    username: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _CONSUMER_NAME.fullmatch(self.name):
            raise ValueError(f"consumer name {self.name!r} must match ^[A-Za-z0-9][A-Za-z0-9_-]{{0,62}}$")
        for what, value in (("database", self.database), ("username", self.username)):
            validate_identifier(value, f"consumer {self.name!r} {what}")
            if value in _RESERVED_NAMES or value.startswith(_RESERVED_PREFIXES):
                raise ValueError(f"consumer {self.name!r} {what} {value!r} is reserved")
        if len(self.username) + len(CLONE_SUFFIX) > MAX_IDENTIFIER or self.username.endswith(CLONE_SUFFIX):
            raise ValueError(
                f"consumer {self.name!r} username {self.username!r} must leave room for its second login "
                f"{self.username + CLONE_SUFFIX!r} (at most {MAX_IDENTIFIER - len(CLONE_SUFFIX)} characters, "
                f"not ending in {CLONE_SUFFIX!r})"
            )

    @property
    def clone(self) -> str:
        """The second login, which alternates with `username` at each rotation."""
        return self.username + CLONE_SUFFIX

    @property
    def logins(self) -> tuple[str, str]:
        """Both logins: `username` (the owner of the consumer's objects) and its clone."""
        return (self.username, self.clone)

    def other_login(self, login: str) -> str:
        """The login a rotation moves to from `login`; ValueError if `login` is not one of the two."""
        if login not in self.logins:
            raise ValueError(
                f"{login!r} is not a login of consumer {self.name!r} ({' or '.join(self.logins)})"
            )
        return self.clone if login == self.username else self.username


@dataclass(frozen=True)
class Step:
    """One statement of a consumer's plan.

    `unless` is a query that, when it returns a row, makes the statement unnecessary; it is how
    statements that cannot be made idempotent in SQL (CREATE DATABASE) are guarded.
    """

    description: str
    sql: str
    database: str = ADMIN_DATABASE
    unless: str | None = None
    creates_database: bool = False


def _ensure_login_role(role_name: str, create: str) -> str:
    """A DO block that runs `create` when the role is missing and refuses it when it is privileged.

    SUPERUSER, REPLICATION and BYPASSRLS can only be changed by a true superuser, which the RDS master
    user is not; so a role holding them (or membership of rds_superuser) is refused, not altered.
    """
    name = quote_literal(role_name)
    refusal = quote_literal(f'role "{role_name}" is privileged; refusing to manage it')
    return f"""DO $bootstrap$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN
    {create};
  ELSIF EXISTS (
    SELECT FROM pg_catalog.pg_roles AS r
    WHERE r.rolname = {name}
      AND (r.rolsuper OR r.rolreplication OR r.rolbypassrls OR EXISTS (
        SELECT FROM pg_catalog.pg_auth_members AS m
        JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid
        WHERE m.member = r.oid AND g.rolname = 'rds_superuser'))
  ) THEN
    RAISE EXCEPTION {refusal};
  END IF;
END
$bootstrap$"""


def _checked_verifier(password_verifier: str) -> str:
    if not _VERIFIER.fullmatch(password_verifier):
        raise ValueError("password_verifier must be a SCRAM-SHA-256 verifier, not a password")
    return password_verifier


def login_pair_plan(consumer: Consumer) -> list[Step]:
    """The idempotent steps that give the consumer its second login, once its owner role and database
    exist: `<username>_clone`, created without a password (it cannot log in until a rotation sets
    one), NOINHERIT, a member of the owner role that it becomes at login, with CONNECT on the database.

    NOINHERIT plus `SET role` means a clone session holds the owner's privileges only as the owner:
    whatever it creates is owned by the owner role, and after `RESET ROLE` it can create nothing.
    A role-level setting applies to new sessions only, which is why it is in place before the clone's
    first password is set. Nothing here touches the owner login, so its sessions keep running.
    """
    owner = quote_identifier(consumer.username)
    clone = quote_identifier(consumer.clone)
    database = quote_identifier(consumer.database)
    return [
        Step(
            "create the second login if missing",
            _ensure_login_role(
                consumer.clone,
                f"CREATE ROLE {clone} WITH LOGIN NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD NULL",
            ),
        ),
        Step(
            "set the second login's attributes",
            f"ALTER ROLE {clone} WITH LOGIN NOCREATEDB NOCREATEROLE NOINHERIT",
        ),
        Step("make the second login a member of the owner role", f"GRANT {owner} TO {clone}"),
        Step(
            "make the second login's sessions start as the owner role",
            f"ALTER ROLE {clone} SET role TO {quote_literal(consumer.username)}",
        ),
        Step("grant CONNECT to the second login", f"GRANT CONNECT ON DATABASE {database} TO {clone}"),
    ]


def password_step(consumer: Consumer, login: str, password_verifier: str) -> Step:
    """The statement that sets `login`'s password (one of the consumer's two logins) to a verifier."""
    if login not in consumer.logins:
        raise ValueError(f"{login!r} is not a login of consumer {consumer.name!r}")
    return Step(
        f"set the password of login {login}",
        f"ALTER ROLE {quote_identifier(login)} WITH LOGIN "
        f"PASSWORD {quote_literal(_checked_verifier(password_verifier))}",
    )


def plan(consumer: Consumer, password_verifier: str, login: str | None = None) -> list[Step]:
    """The idempotent steps that give `consumer` its roles, database and schema, in order, and set
    the password of `login` (default: the owner login) to `password_verifier`.

    The owner role is created without SUPERUSER, REPLICATION or BYPASSRLS, and an existing role holding
    them is refused (see `_ensure_login_role`). The master user is granted the owner role so that it
    may create and hand over objects owned by it (PostgreSQL 16+ requires SET on the new owner).
    """
    login = consumer.username if login is None else login
    password = password_step(consumer, login, password_verifier)
    owner_password = f" PASSWORD {quote_literal(password_verifier)}" if login == consumer.username else ""
    role = quote_identifier(consumer.username)
    database = quote_identifier(consumer.database)
    ensure_role = _ensure_login_role(
        consumer.username, f"CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
    )
    return [
        Step("create the role if missing", ensure_role),
        Step(
            "set the role's attributes and password" if owner_password else "set the role's attributes",
            f"ALTER ROLE {role} WITH LOGIN NOCREATEDB NOCREATEROLE NOINHERIT{owner_password}",
        ),
        Step("grant the role to the master user", f"GRANT {role} TO CURRENT_USER"),
        Step(
            "create the database",
            f"CREATE DATABASE {database} OWNER {role}",
            unless=f"SELECT 1 FROM pg_catalog.pg_database WHERE datname = {quote_literal(consumer.database)}",
            creates_database=True,
        ),
        Step("make the role own the database", f"ALTER DATABASE {database} OWNER TO {role}"),
        Step("revoke the database from PUBLIC", f"REVOKE ALL ON DATABASE {database} FROM PUBLIC"),
        Step("grant CONNECT to the role", f"GRANT CONNECT ON DATABASE {database} TO {role}"),
        *login_pair_plan(consumer),
        *([password] if login != consumer.username else []),
        Step(
            "make the role own schema public",
            f"ALTER SCHEMA public OWNER TO {role}",
            database=consumer.database,
        ),
        Step(
            "revoke CREATE on schema public from PUBLIC",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            database=consumer.database,
        ),
    ]


def statements_for(consumer: Consumer, password_verifier: str) -> list[str]:
    """The SQL of `plan(consumer, password_verifier)`, in order, without the guard queries."""
    return [step.sql for step in plan(consumer, password_verifier)]


def _saslprep(password: str) -> bytes:
    """The bytes PostgreSQL hashes for `password` (its pg_saslprep, falling back to the raw bytes)."""
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = [" " if stringprep.in_table_c12(ch) else ch for ch in password if not stringprep.in_table_b1(ch)]
    if not mapped or any(check(ch) for ch in mapped for check in _SASLPREP_PROHIBITED):
        return raw
    if any(stringprep.in_table_d1(ch) for ch in mapped) and (
        any(stringprep.in_table_d2(ch) for ch in mapped)
        or not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1]))
    ):
        return raw
    return unicodedata.normalize("NFKC", "".join(mapped)).encode("utf-8")


def scram_sha256_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of `password` (RFC 5802/7677, as scram-common.c builds it).

    Format: `SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>`; a random 16-byte
    salt is used unless one is given.
    """
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    if salt is None:
        salt = os.urandom(SCRAM_SALT_BYTES)
    if not salt or iterations < 1:
        raise ValueError("salt must be non-empty and iterations positive")
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class Executor(Protocol):
    """Runs one SQL statement in a database and returns its rows."""

    def execute(self, sql: str, database: str) -> list[tuple[object, ...]]:
        """Run `sql` (autocommit) in `database`."""
        ...


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        details = response.get("Error")
        if isinstance(details, Mapping):
            code = details.get("Code")
            return code if isinstance(code, str) else None
    return None


def _field_value(field: Mapping[str, Any]) -> object:
    if field.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "booleanValue", "doubleValue", "blobValue", "arrayValue"):
        if key in field:
            value: object = field[key]
            return value
    return None


class DataApiExecutor:
    """Executor over the RDS Data API, authenticated with the master user's secret.

    Retries while an auto-paused Aurora Serverless v2 cluster resumes (DatabaseResumingException).
    """

    def __init__(
        self,
        cluster_arn: str,
        secret_arn: str,
        *,
        client: Any = None,
        attempts: int = 12,
        delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("rds-data")
        self._client = client
        self._cluster_arn = cluster_arn
        self._secret_arn = secret_arn
        self._attempts = max(1, attempts)
        self._delay = delay
        self._sleep = sleep

    def execute(self, sql: str, database: str) -> list[tuple[object, ...]]:
        """Run `sql` in `database` and return its records as tuples."""
        attempt = 1
        while True:
            try:
                response: Mapping[str, Any] = self._client.execute_statement(
                    resourceArn=self._cluster_arn, secretArn=self._secret_arn, database=database, sql=sql
                )
            except Exception as error:
                if _error_code(error) not in _RETRYABLE_DATA_API_ERRORS or attempt >= self._attempts:
                    raise
                LOGGER.info("cluster is resuming; retrying in %.0f s (attempt %d)", self._delay, attempt)
                self._sleep(self._delay)
                attempt += 1
                continue
            records: Sequence[Sequence[Mapping[str, Any]]] = response.get("records") or []
            return [tuple(_field_value(field) for field in record) for record in records]


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _run(
    executor: Executor, consumer: Consumer, step: Step, sql: str, hidden: Sequence[str]
) -> list[tuple[object, ...]]:
    try:
        return executor.execute(sql, step.database)
    except Exception as error:
        detail = _redact(f"{type(error).__name__}: {error}", hidden)
        raise BootstrapError(
            f"consumer {consumer.name!r}: could not {step.description} (database {step.database!r}): {detail}"
        ) from None


def bootstrap(
    executor: Executor,
    consumers_with_passwords: Iterable[tuple[Consumer, str]],
    logins: Mapping[str, str] | None = None,
) -> list[str]:
    """Bring every consumer's roles, password, database and schema to the desired state.

    The password is set on the login that `logins` names for the consumer (by consumer name; default
    the owner login), the one its secret currently holds; the other login is left as it is, so that
    credentials handed out before the last rotation keep working. Idempotent: a second run changes
    nothing but the password verifier's salt. Returns the names of the databases this run created.
    """
    pairs = list(consumers_with_passwords)
    chosen = dict(logins or {})
    for attribute in ("name", "database", "username"):
        values = [getattr(consumer, attribute) for consumer, _ in pairs]
        if len(set(values)) != len(values):
            raise BootstrapError(f"consumers must have distinct {attribute}s: {sorted(values)}")
    roles = [login for consumer, _ in pairs for login in consumer.logins]
    if len(set(roles)) != len(roles):
        raise BootstrapError(f"consumers' logins must be distinct: {sorted(roles)}")
    created: list[str] = []
    for consumer, password in pairs:
        try:
            verifier = scram_sha256_verifier(password)
        except ValueError as error:
            raise BootstrapError(f"consumer {consumer.name!r}: unusable password: {error}") from None
        hidden = (password, verifier)
        login = chosen.get(consumer.name, consumer.username)
        if login not in consumer.logins:
            raise BootstrapError(
                f"consumer {consumer.name!r}: its secret names login {login!r}, not one of "
                f"{' or '.join(consumer.logins)}"
            )
        LOGGER.info(
            "consumer %s: database %s, owner %s, password of login %s",
            consumer.name,
            consumer.database,
            consumer.username,
            login,
        )
        for step in plan(consumer, verifier, login):
            if step.unless is not None and _run(executor, consumer, step, step.unless, hidden):
                LOGGER.info("consumer %s: %s: already done", consumer.name, step.description)
                continue
            _run(executor, consumer, step, step.sql, hidden)
            LOGGER.info("consumer %s: %s: done", consumer.name, step.description)
            if step.creates_database:
                created.append(consumer.database)
    return created


class SecretsClient(Protocol):
    """The part of boto3's Secrets Manager client that the bootstrap uses."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        """Read a secret's current value."""
        ...

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> Mapping[str, Any]:
        """Store a new current value of a secret."""
        ...


@dataclass(frozen=True)
class Target:
    """A consumer and the ARN of its secret."""

    consumer: Consumer
    secret_arn: str


@dataclass(frozen=True)
class Properties:
    """The custom resource's properties, validated."""

    cluster_arn: str
    master_secret_arn: str
    host: str
    port: int
    targets: tuple[Target, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Properties:
        """Validate ResourceProperties; CloudFormation passes scalars as strings."""

        def text(source: Mapping[str, Any], key: str, where: str = "") -> str:
            value = source.get(key)
            if not isinstance(value, str) or not value.strip():
                raise BootstrapError(f"property {where}{key} must be a non-empty string")
            return value.strip()

        port_text = str(raw.get("Port", "")).strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise BootstrapError("property Port must be a TCP port number")
        entries = raw.get("Consumers")
        if not isinstance(entries, list) or not entries:
            raise BootstrapError("property Consumers must be a non-empty list")
        targets: list[Target] = []
        for index, entry in enumerate(entries):
            where = f"Consumers[{index}]."
            if not isinstance(entry, Mapping):
                raise BootstrapError(f"property Consumers[{index}] must be an object")
            try:
                consumer = Consumer(
                    name=text(entry, "Name", where),
                    database=text(entry, "Database", where),
                    username=text(entry, "Username", where),
                )
            except ValueError as error:
                raise BootstrapError(f"property Consumers[{index}]: {error}") from None
            targets.append(Target(consumer, text(entry, "SecretArn", where)))
        return cls(
            cluster_arn=text(raw, "ClusterArn"),
            master_secret_arn=text(raw, "MasterSecretArn"),
            host=text(raw, "Host"),
            port=int(port_text),
            targets=tuple(targets),
        )


def physical_resource_id(cluster_arn: str) -> str:
    """The custom resource's id: one per cluster, so a new cluster means a new resource."""
    return PHYSICAL_ID_PREFIX + cluster_arn


def _read_secret(secrets: SecretsClient, target: Target) -> dict[str, Any]:
    name = target.consumer.name
    try:
        response = secrets.get_secret_value(SecretId=target.secret_arn)
    except Exception as error:
        raise BootstrapError(
            f"consumer {name!r}: could not read its secret: {type(error).__name__}"
        ) from None
    try:
        value = json.loads(response["SecretString"])
    except (KeyError, TypeError, ValueError):
        raise BootstrapError(f"consumer {name!r}: its secret is not a JSON string") from None
    if not isinstance(value, dict):
        raise BootstrapError(f"consumer {name!r}: its secret is not a JSON object")
    if not isinstance(value.get("password"), str) or not value["password"]:
        raise BootstrapError(f"consumer {name!r}: its secret has no non-empty string field 'password'")
    return value


def secret_login(consumer: Consumer, value: Mapping[str, Any]) -> str:
    """The login a consumer secret's value belongs to: its `username` when that is one of the
    consumer's two logins (a rotated secret names either), else the owner login (a secret as CDK
    generates it, before the bootstrap first wrote the connection fields)."""
    username = value.get("username")
    return username if isinstance(username, str) and username in consumer.logins else consumer.username


def _write_connection(
    secrets: SecretsClient, target: Target, current: Mapping[str, Any], host: str, port: int, login: str
) -> bool:
    consumer = target.consumer
    desired = {
        **current,
        "username": login,
        "host": host,
        "port": port,
        "dbname": consumer.database,
        "engine": ENGINE,
    }
    if desired == dict(current):
        return False
    try:
        secrets.put_secret_value(SecretId=target.secret_arn, SecretString=json.dumps(desired, sort_keys=True))
    except Exception as error:
        raise BootstrapError(
            f"consumer {consumer.name!r}: could not update its secret: {type(error).__name__}"
        ) from None
    return True


def on_event(
    event: Mapping[str, Any],
    context: object = None,
    *,
    secrets: SecretsClient | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Entry point for `custom_resources.Provider`.

    Create and Update bootstrap every consumer with the password in its secret, then write the
    connection fields (username, host, port, dbname, engine) into that secret. Delete does nothing:
    databases, roles and secrets are retained. `secrets` and `executor` default to boto3 clients.
    """
    request = event.get("RequestType")
    raw = event.get("ResourceProperties") or {}
    if request == "Delete":
        LOGGER.info("Delete: databases and roles are retained")
        existing = event.get("PhysicalResourceId")
        return {"PhysicalResourceId": str(existing or physical_resource_id(str(raw.get("ClusterArn", ""))))}
    if request not in ("Create", "Update"):
        raise BootstrapError(f"unsupported RequestType {request!r}")
    properties = Properties.parse(raw)
    if secrets is None:
        import boto3

        secrets_client: SecretsClient = boto3.client("secretsmanager")
    else:
        secrets_client = secrets
    if executor is None:
        executor = DataApiExecutor(properties.cluster_arn, properties.master_secret_arn)
    LOGGER.info("%s: bootstrapping %d consumers", request, len(properties.targets))
    current = {target.consumer.name: _read_secret(secrets_client, target) for target in properties.targets}
    by_name = {target.consumer.name: target for target in properties.targets}
    logins = {name: secret_login(target.consumer, current[name]) for name, target in by_name.items()}
    created = bootstrap(
        executor,
        [(target.consumer, current[target.consumer.name]["password"]) for target in properties.targets],
        logins,
    )
    for target in properties.targets:
        if _write_connection(
            secrets_client,
            target,
            current[target.consumer.name],
            properties.host,
            properties.port,
            logins[target.consumer.name],
        ):
            LOGGER.info("consumer %s: connection fields written to its secret", target.consumer.name)
    return {
        "PhysicalResourceId": physical_resource_id(properties.cluster_arn),
        "Data": {
            "Databases": ",".join(target.consumer.database for target in properties.targets),
            "Created": ",".join(created),
        },
    }
