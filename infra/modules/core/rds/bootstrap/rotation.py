"""Rotation of an Aurora consumer login: the four steps of a Secrets Manager rotation function.

Strategy: alternating users (AWS's "SecretsManagerRDSPostgreSQLRotationMultiUser" template). Each
rotation moves the secret to the consumer's other login (`<username>` <-> `<username>_clone`) with a
new password, so the login that running tasks were given stays valid until the next rotation. The
login pair, its ownership layout and every SQL statement come from the bootstrap (`handler`), which
this file imports as its sibling module: both are deployed together as one asset.

The function needs no VPC and no PostgreSQL driver. setSecret runs as the master user through the RDS
Data API and sends only a SCRAM-SHA-256 verifier of the new password. The Data API logs in with a
secret's AWSCURRENT value only, so testSecret cannot use the consumer secret's AWSPENDING version:
it stores the pending value as the current value of a short-lived secret of its own (encrypted with
the database key, named under CHECK_SECRET_PREFIX), logs in with it through the Data API, checks who
it is, and force-deletes it. That proves the pending login and password the way every client will
use them, over the same authentication path, without the password leaving Secrets Manager.

Contract (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html):
the event carries SecretId, ClientRequestToken and Step; every step is idempotent, because Secrets
Manager retries; the token must be staged AWSPENDING (a version already AWSCURRENT means the rotation
is done); finishSecret moves AWSCURRENT, and Secrets Manager moves AWSPREVIOUS with it.

Configuration comes from the environment: CLUSTER_ARN, MASTER_SECRET_ARN, KMS_KEY_ID,
CHECK_SECRET_PREFIX and CONSUMERS (JSON list of {SecretArn, Name, Database, Username}). Only those
secrets are rotated, and only between their own two logins, whatever a secret's value says.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

if __package__:
    from . import handler as core
else:  # deployed: the asset's root is on sys.path and `handler` is a top-level module
    import handler as core  # type: ignore[no-redef]

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
PASSWORD_LENGTH = 40
WHOAMI = "SELECT session_user, current_user, current_database()"
_NOT_FOUND = "ResourceNotFoundException"


class RotationError(Exception):
    """A rotation step that must not go on; the message names the secret and step, never a value."""


class RotationSecrets(Protocol):
    """The part of boto3's Secrets Manager client that the rotation uses."""

    def describe_secret(self, *, SecretId: str) -> Mapping[str, Any]: ...

    def get_secret_value(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def put_secret_value(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def get_random_password(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def update_secret_version_stage(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def create_secret(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def delete_secret(self, **kwargs: Any) -> Mapping[str, Any]: ...


class Logins(Protocol):
    """Logs in to the cluster as a secret's value and says who it is there."""

    def whoami(self, value: Mapping[str, Any], name: str) -> tuple[object, ...]:
        """(session_user, current_user, current_database()) of a session opened with `value`'s
        username, password and dbname; `name` is the name of the short-lived secret that holds it."""
        ...


@dataclass(frozen=True)
class Settings:
    """The function's configuration, validated."""

    cluster_arn: str
    master_secret_arn: str
    kms_key_id: str
    check_secret_prefix: str
    consumers: Mapping[str, core.Consumer]
    """Consumer by the ARN of its secret."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate the environment the construct sets."""
        missing = [
            key
            for key in ("CLUSTER_ARN", "MASTER_SECRET_ARN", "KMS_KEY_ID", "CHECK_SECRET_PREFIX", "CONSUMERS")
            if not environ.get(key, "").strip()
        ]
        if missing:
            raise RotationError(f"environment variables {', '.join(missing)} must be set")
        try:
            entries = json.loads(environ["CONSUMERS"])
            consumers = {
                str(entry["SecretArn"]): core.Consumer(
                    name=str(entry["Name"]), database=str(entry["Database"]), username=str(entry["Username"])
                )
                for entry in entries
            }
        except (ValueError, KeyError, TypeError) as error:
            raise RotationError(f"CONSUMERS must be a JSON list of consumers: {error}") from None
        return cls(
            cluster_arn=environ["CLUSTER_ARN"],
            master_secret_arn=environ["MASTER_SECRET_ARN"],
            kms_key_id=environ["KMS_KEY_ID"],
            check_secret_prefix=environ["CHECK_SECRET_PREFIX"],
            consumers=consumers,
        )

    def consumer_for(self, secret_arn: str) -> core.Consumer:
        """The consumer whose secret this is; RotationError for any other secret."""
        consumer = self.consumers.get(secret_arn)
        if consumer is None:
            raise RotationError(f"secret {secret_arn} is not a consumer login this function rotates")
        return consumer


class DataApiLogins:
    """`Logins` over the RDS Data API, which logs in with a secret's AWSCURRENT value: the value is put
    in a short-lived secret of its own, used once, then deleted without a recovery window."""

    def __init__(self, settings: Settings, secrets: RotationSecrets, rds_data: Any = None) -> None:
        self._settings = settings
        self._secrets = secrets
        self._rds_data = rds_data

    def whoami(self, value: Mapping[str, Any], name: str) -> tuple[object, ...]:
        created = self._secrets.create_secret(
            Name=name,
            Description="Short-lived copy of a pending database login, made by its rotation's testSecret.",
            KmsKeyId=self._settings.kms_key_id,
            SecretString=json.dumps(dict(value), sort_keys=True),
        )
        arn = str(created["ARN"])
        failure: BaseException | None = None
        try:
            executor = core.DataApiExecutor(self._settings.cluster_arn, arn, client=self._rds_data)
            rows = executor.execute(WHOAMI, str(value["dbname"]))
        except Exception as error:
            failure = error
            rows = []
        finally:
            try:
                self._secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
            except Exception as error:
                raise RotationError(
                    f"could not delete the short-lived secret {name}: {type(error).__name__}; "
                    "delete it by hand"
                ) from None
        if failure is not None:
            raise RotationError(f"the pending login could not log in: {_describe(failure, value)}") from None
        if len(rows) != 1:
            raise RotationError(f"the pending login's session answered {len(rows)} rows to {WHOAMI!r}")
        return rows[0]


def _describe(error: BaseException, value: Mapping[str, Any]) -> str:
    password = value.get("password")
    hidden = [password] if isinstance(password, str) else []
    return core._redact(f"{type(error).__name__}: {error}", hidden)


def _read(secrets: RotationSecrets, arn: str, stage: str, version: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"SecretId": arn, "VersionStage": stage}
    if version is not None:
        request["VersionId"] = version
    response = secrets.get_secret_value(**request)
    try:
        value = json.loads(response["SecretString"])
    except (KeyError, TypeError, ValueError):
        raise RotationError(f"{arn} ({stage}): the value is not a JSON string") from None
    if not isinstance(value, dict):
        raise RotationError(f"{arn} ({stage}): the value is not a JSON object")
    for key in ("username", "password", "dbname"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise RotationError(f"{arn} ({stage}): the value has no non-empty string field {key!r}")
    return value


def _login(consumer: core.Consumer, value: Mapping[str, Any], arn: str, stage: str) -> str:
    login = str(value["username"])
    if login not in consumer.logins:
        raise RotationError(
            f"{arn} ({stage}): username {login!r} is not one of {' or '.join(consumer.logins)}; "
            "run the bootstrap (deploy) to repair the secret"
        )
    if value["dbname"] != consumer.database:
        raise RotationError(f"{arn} ({stage}): dbname is not the consumer's database {consumer.database!r}")
    return login


def create_secret(secrets: RotationSecrets, arn: str, token: str, consumer: core.Consumer) -> None:
    """createSecret: put the other login with a new password as the AWSPENDING version `token`,
    unless that version already holds a value (a retry)."""
    current = _read(secrets, arn, CURRENT)
    try:
        _read(secrets, arn, PENDING, token)
        LOGGER.info("createSecret: %s already has its pending version", arn)
        return
    except Exception as error:
        if core._error_code(error) != _NOT_FOUND:
            raise
    login = consumer.other_login(_login(consumer, current, arn, CURRENT))
    password = secrets.get_random_password(PasswordLength=PASSWORD_LENGTH, ExcludePunctuation=True)
    pending = {**current, "username": login, "password": password["RandomPassword"]}
    secrets.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps(pending, sort_keys=True),
        VersionStages=[PENDING],
    )
    LOGGER.info("createSecret: %s: pending version for login %s", arn, login)


def set_secret(
    secrets: RotationSecrets, arn: str, token: str, consumer: core.Consumer, executor: core.Executor
) -> None:
    """setSecret: as the master user, make sure the login pair exists (this also migrates a consumer
    that still has one login) and set the pending login's password, as a SCRAM verifier."""
    current = _read(secrets, arn, CURRENT)
    pending = _read(secrets, arn, PENDING, token)
    current_login = _login(consumer, current, arn, CURRENT)
    pending_login = _login(consumer, pending, arn, PENDING)
    if pending_login != consumer.other_login(current_login):
        raise RotationError(
            f"{arn}: the pending login {pending_login!r} must be the other login than the current "
            f"{current_login!r}"
        )
    for key in ("host", "port", "engine"):
        if pending.get(key) != current.get(key):
            raise RotationError(f"{arn}: the pending value's {key} differs from the current one")
    password = pending["password"]
    verifier = core.scram_sha256_verifier(password)
    hidden = (password, verifier)
    for step in [*core.login_pair_plan(consumer), core.password_step(consumer, pending_login, verifier)]:
        core._run(executor, consumer, step, step.sql, hidden)
    LOGGER.info("setSecret: %s: password of login %s set", arn, pending_login)


def test_secret(
    secrets: RotationSecrets, arn: str, token: str, consumer: core.Consumer, logins: Logins, prefix: str
) -> None:
    """testSecret: log in with the pending value and check the session is the pending login, acting
    as the owner role, in the consumer's database."""
    pending = _read(secrets, arn, PENDING, token)
    login = _login(consumer, pending, arn, PENDING)
    session_user, current_user, database = logins.whoami(pending, f"{prefix}{consumer.name}-{token}")
    if (session_user, current_user, database) != (login, consumer.username, consumer.database):
        raise RotationError(
            f"{arn}: the pending login opened a session as {session_user}/{current_user} in {database}, "
            f"expected {login}/{consumer.username} in {consumer.database}"
        )
    LOGGER.info("testSecret: %s: login %s works and acts as %s", arn, login, consumer.username)


def finish_secret(secrets: RotationSecrets, arn: str, token: str) -> None:
    """finishSecret: move AWSCURRENT to `token` (Secrets Manager moves AWSPREVIOUS to the old one)."""
    versions: Mapping[str, list[str]] = secrets.describe_secret(SecretId=arn).get("VersionIdsToStages") or {}
    current = next((version for version, stages in versions.items() if CURRENT in stages), None)
    if current == token:
        LOGGER.info("finishSecret: %s: version %s is already current", arn, token)
        return
    secrets.update_secret_version_stage(
        SecretId=arn,
        VersionStage=CURRENT,
        MoveToVersionId=token,
        **({"RemoveFromVersionId": current} if current else {}),
    )
    LOGGER.info("finishSecret: %s: version %s is now current", arn, token)


def on_rotate(
    event: Mapping[str, Any],
    context: object = None,
    *,
    settings: Settings | None = None,
    secrets: RotationSecrets | None = None,
    executor: core.Executor | None = None,
    logins: Logins | None = None,
) -> None:
    """Entry point Secrets Manager invokes, once per step. The keyword arguments default to the
    environment's settings and boto3 clients; tests give their own transports."""
    step = event.get("Step")
    token = event.get("ClientRequestToken")
    secret_id = event.get("SecretId")
    if step not in STEPS or not isinstance(token, str) or not isinstance(secret_id, str):
        raise RotationError(
            f"not a rotation event: Step {step!r} must be one of {', '.join(STEPS)}, "
            "with SecretId and ClientRequestToken"
        )
    settings = settings or Settings.from_environment(os.environ)
    if secrets is None:
        import boto3

        secrets_client: RotationSecrets = boto3.client("secretsmanager")
    else:
        secrets_client = secrets
    metadata = secrets_client.describe_secret(SecretId=secret_id)
    arn = str(metadata["ARN"])
    consumer = settings.consumer_for(arn)
    if metadata.get("RotationEnabled") is False:
        raise RotationError(f"{arn} is not enabled for rotation")
    versions: Mapping[str, list[str]] = metadata.get("VersionIdsToStages") or {}
    if token not in versions:
        raise RotationError(f"{arn}: version {token} has no stage for rotation")
    if CURRENT in versions[token]:
        LOGGER.info("%s: %s: version %s is already current", step, arn, token)
        return
    if PENDING not in versions[token]:
        raise RotationError(f"{arn}: version {token} is not staged AWSPENDING")
    LOGGER.info("%s: %s (consumer %s), version %s", step, arn, consumer.name, token)
    if step == "createSecret":
        create_secret(secrets_client, arn, token, consumer)
    elif step == "setSecret":
        set_secret(
            secrets_client,
            arn,
            token,
            consumer,
            executor or core.DataApiExecutor(settings.cluster_arn, settings.master_secret_arn),
        )
    elif step == "testSecret":
        test_secret(
            secrets_client,
            arn,
            token,
            consumer,
            logins or DataApiLogins(settings, secrets_client),
            settings.check_secret_prefix,
        )
    else:
        finish_secret(secrets_client, arn, token)
