"""The consumer-login rotation through its four steps, on a real PostgreSQL server.

Secrets Manager is moto's real backend (version stages and all). The RDS Data API is replaced at its
transport only: `DataApiTransport` does what the Data API does with a request, logging in to the
PostgreSQL server as the AWSCURRENT value of the secret it is given and running the statement. The
master user is a CREATEROLE, CREATEDB role that is not a superuser, like Aurora's.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pg8000.exceptions
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

from emulator.cfn.secretsmanager import RotationSchedule
from infra.modules.core.rds.bootstrap import handler as core
from infra.modules.core.rds.bootstrap.rotation import (
    STEPS,
    DataApiLogins,
    RotationError,
    Settings,
    on_rotate,
)

from ._postgres import PgServer

REGION = "us-east-1"
CLUSTER_ARN = f"arn:aws:rds:{REGION}:{DEFAULT_ACCOUNT_ID}:cluster:blog-platform"
PREFIX = "blog/test/database/"
CHECK_PREFIX = "blog/test/database/rotation-check/"
MASTER = "rotation_master"
MASTER_PASSWORD = "master-password-for-rotation-tests"
BOOTSTRAP_CODE = Path(core.__file__).parent


class DataApiTransport:
    """rds-data's execute_statement: log in as the secret's AWSCURRENT value, run one statement in
    its own session, answer with Data API records (or a BadRequestException, as the Data API does)."""

    def __init__(self, server: PgServer, secrets: Any) -> None:
        self.server = server
        self.secrets = secrets
        self.logins: list[str] = []

    def execute_statement(
        self, *, resourceArn: str, secretArn: str, database: str, sql: str
    ) -> dict[str, Any]:
        assert resourceArn == CLUSTER_ARN
        value = json.loads(self.secrets.get_secret_value(SecretId=secretArn)["SecretString"])
        self.logins.append(value["username"])
        try:
            connection = self.server.connect(value["username"], value["password"], database)
            try:
                rows = connection.run(sql) or []
            finally:
                connection.close()
        except pg8000.exceptions.DatabaseError as error:
            details = error.args[0] if error.args and isinstance(error.args[0], Mapping) else {}
            raise ClientError(
                {"Error": {"Code": "BadRequestException", "Message": str(details.get("M", error))}},
                "ExecuteStatement",
            ) from None
        return {"records": [[_field(value) for value in row] for row in rows]}


def _field(value: object) -> dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    return {"stringValue": str(value)}


class Platform:
    """One consumer, its secret in moto, the master secret, and the rotation function's transports."""

    def __init__(self, server: PgServer, secrets: Any, name: str) -> None:
        self.server = server
        self.secrets = secrets
        self.consumer = core.Consumer(name=name, database=f"{name}_db", username=name)
        self.data_api = DataApiTransport(server, secrets)
        master = secrets.create_secret(
            Name=f"rds!cluster-{name}",
            SecretString=json.dumps({"username": MASTER, "password": MASTER_PASSWORD}),
        )
        self.master = core.DataApiExecutor(CLUSTER_ARN, master["ARN"], client=self.data_api)
        secret = secrets.create_secret(
            Name=PREFIX + name,
            SecretString=json.dumps(
                {"username": name, "dbname": name, "engine": "postgres", "password": f"{name}-first-pw"}
            ),
        )
        self.arn: str = secret["ARN"]
        RotationSchedule._record(
            {
                "SecretId": self.arn,
                "RotationLambdaARN": "rotation",
                "RotationRules": {"AutomaticallyAfterDays": 30},
            },
            DEFAULT_ACCOUNT_ID,
            REGION,
        )
        self.settings = Settings(
            cluster_arn=CLUSTER_ARN,
            master_secret_arn=master["ARN"],
            kms_key_id="alias/aws/secretsmanager",
            check_secret_prefix=CHECK_PREFIX,
            consumers={self.arn: self.consumer},
        )

    def bootstrap(self, request: str = "Create") -> None:
        """The bootstrap custom resource, as CloudFormation runs it."""
        core.on_event(
            {
                "RequestType": request,
                "ResourceProperties": {
                    "ClusterArn": CLUSTER_ARN,
                    "MasterSecretArn": self.settings.master_secret_arn,
                    "Host": self.server.host,
                    "Port": str(self.server.port),
                    "Consumers": [
                        {
                            "Name": self.consumer.name,
                            "Database": self.consumer.database,
                            "Username": self.consumer.username,
                            "SecretArn": self.arn,
                        }
                    ],
                },
            },
            secrets=self.secrets,
            executor=self.master,
        )

    def start(self) -> str:
        """What Secrets Manager does before it invokes the function: an empty AWSPENDING version."""
        secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[self.arn]
        token = str(uuid.uuid4())
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = {
            "createdate": int(time.time()),
            "version_id": token,
            "version_stages": ["AWSPENDING"],
        }
        return token

    def step(self, step: str, token: str, logins: Any = None) -> None:
        on_rotate(
            {"SecretId": self.arn, "ClientRequestToken": token, "Step": step},
            settings=self.settings,
            secrets=self.secrets,
            executor=self.master,
            logins=logins or DataApiLogins(self.settings, self.secrets, rds_data=self.data_api),
        )

    def rotate(self) -> str:
        token = self.start()
        for step in STEPS:
            self.step(step, token)
        return token

    def value(self, stage: str = "AWSCURRENT") -> dict[str, Any]:
        value: dict[str, Any] = json.loads(
            self.secrets.get_secret_value(SecretId=self.arn, VersionStage=stage)["SecretString"]
        )
        return value

    def stages(self) -> dict[str, list[str]]:
        stages: dict[str, list[str]] = self.secrets.describe_secret(SecretId=self.arn)["VersionIdsToStages"]
        return stages

    def whoami(self, value: Mapping[str, Any]) -> tuple[str, str]:
        connection = self.server.connect(value["username"], value["password"], self.consumer.database)
        try:
            ((session_user, current_user),) = connection.run("SELECT session_user, current_user")
        finally:
            connection.close()
        return str(session_user), str(current_user)


def login_state(server: PgServer, user: str, password: str, database: str) -> str:
    """`ok`, or the SQLSTATE of the refused login."""
    try:
        server.connect(user, password, database).close()
    except pg8000.exceptions.DatabaseError as error:
        return str(error.args[0]["C"])
    return "ok"


@pytest.fixture(scope="module")
def master_role(pg_server: PgServer) -> str:
    pg_server.query(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{MASTER}') THEN "
        f"CREATE ROLE {MASTER} LOGIN CREATEDB CREATEROLE PASSWORD '{MASTER_PASSWORD}'; END IF; END $$"
    )
    return MASTER


@pytest.fixture
def secrets_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


_names = iter(f"rot{n}" for n in range(1000))


@pytest.fixture
def platform(pg_server: PgServer, master_role: str, secrets_client: Any) -> Platform:
    """A bootstrapped consumer with a fresh name."""
    platform = Platform(pg_server, secrets_client, next(_names))
    platform.bootstrap()
    return platform


def test_rotation_moves_to_the_clone_and_keeps_the_owner_login(platform: Platform) -> None:
    # GIVEN a bootstrapped consumer whose secret holds the owner login
    before = platform.value()
    name = platform.consumer.username

    # WHEN it is rotated
    token = platform.rotate()

    # THEN the current value is the clone with a new password, the previous one the owner login
    after = platform.value()
    assert after["username"] == f"{name}_clone" and after["password"] != before["password"]
    assert {k: v for k, v in after.items() if k not in ("username", "password")} == {
        k: v for k, v in before.items() if k not in ("username", "password")
    }
    assert platform.value("AWSPREVIOUS") == before
    assert "AWSCURRENT" in platform.stages()[token]
    # AND both log in, each acting as the owner role
    assert platform.whoami(after) == (f"{name}_clone", name)
    assert platform.whoami(before) == (name, name)
    # AND testSecret's short-lived secret is gone
    assert not [
        s for s in platform.secrets.list_secrets()["SecretList"] if s["Name"].startswith(CHECK_PREFIX)
    ]


def test_rotation_twice_alternates_and_retires_the_oldest_password(platform: Platform) -> None:
    # GIVEN a consumer rotated once
    first = platform.value()
    platform.rotate()
    second = platform.value()

    # WHEN it is rotated again
    platform.rotate()

    # THEN the owner login is current again with a third password; the clone's still works
    third = platform.value()
    assert third["username"] == first["username"]
    assert len({first["password"], second["password"], third["password"]}) == 3
    assert platform.value("AWSPREVIOUS") == second
    database = platform.consumer.database
    assert login_state(platform.server, third["username"], third["password"], database) == "ok"
    assert login_state(platform.server, second["username"], second["password"], database) == "ok"
    assert login_state(platform.server, first["username"], first["password"], database) == "28P01"


def test_a_running_session_and_the_old_credential_survive_a_rotation(platform: Platform) -> None:
    # GIVEN a task's session opened with the current credential, holding a table
    task = platform.value()
    session = platform.server.connect(task["username"], task["password"], platform.consumer.database)
    try:
        session.run("CREATE TABLE public.posts (id integer)")

        # WHEN the secret is rotated twice (the second changes the task's own login's password)
        platform.rotate()
        assert (
            login_state(platform.server, task["username"], task["password"], platform.consumer.database)
            == "ok"
        )
        platform.rotate()

        # THEN the open session keeps working throughout
        session.run("INSERT INTO public.posts VALUES (1)")
        assert session.run("SELECT count(*) FROM public.posts") == [[1]]
    finally:
        session.close()


def test_privileges_and_ownership_are_the_same_whichever_login(
    platform: Platform, pg_server: PgServer
) -> None:
    # GIVEN a table created by the owner login
    owner = platform.value()
    name, database = platform.consumer.username, platform.consumer.database
    connection = pg_server.connect(owner["username"], owner["password"], database)
    connection.run("CREATE TABLE public.by_owner (id integer)")
    connection.close()

    # WHEN the secret is rotated and the clone login creates objects and alters the owner's table
    platform.rotate()
    clone = platform.value()
    connection = pg_server.connect(clone["username"], clone["password"], database)
    try:
        connection.run("CREATE TABLE public.by_clone (id serial)")
        connection.run("CREATE SCHEMA plugin_catalog")
        connection.run("ALTER TABLE public.by_owner ADD COLUMN title text")
        connection.run("INSERT INTO public.by_owner VALUES (1, 'x')")
        # AND, having dropped the owner role (RESET ROLE would go back to it), the clone can create nothing
        connection.run("SET ROLE NONE")
        assert connection.run("SELECT current_user") == [[clone["username"]]]
        with pytest.raises(pg8000.exceptions.DatabaseError) as refused:
            connection.run("CREATE TABLE public.sneaky (id integer)")
        assert refused.value.args[0]["C"] == "42501"
    finally:
        connection.close()

    # THEN every object belongs to the owner role, which still owns the database and schema public
    owners = pg_server.query(
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1",
        database=database,
    )
    assert owners == [(relation, name) for relation in ("by_clone", "by_clone_id_seq", "by_owner")]
    assert pg_server.query(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('public', 'plugin_catalog')",
        database=database,
    ) == [(name,), (name,)]
    assert pg_server.query(
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'"
    ) == [(name,)]
    # AND neither login is privileged, and the clone is fenced off from other databases
    assert pg_server.query(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin FROM pg_roles"
        f" WHERE rolname IN ('{name}', '{name}_clone') ORDER BY 1"
    ) == [(name, False, False, False, False, True), (f"{name}_clone", False, False, False, False, True)]
    pg_server.query(f"CREATE DATABASE {name}_private")
    pg_server.query(f"REVOKE ALL ON DATABASE {name}_private FROM PUBLIC")
    assert login_state(pg_server, clone["username"], clone["password"], f"{name}_private") == "42501"
    # AND the owner login still reads what the clone wrote
    assert platform.whoami(owner) == (name, name)


def test_a_failed_test_step_leaves_the_current_login_in_place(
    platform: Platform, pg_server: PgServer
) -> None:
    # GIVEN a rotation whose pending login cannot connect once its password is set
    current = platform.value()
    token = platform.start()
    platform.step("createSecret", token)
    platform.step("setSecret", token)
    clone = platform.consumer.clone
    pg_server.query(f"REVOKE CONNECT ON DATABASE {platform.consumer.database} FROM {clone}")

    # WHEN testSecret runs
    with pytest.raises(RotationError, match="could not log in") as failure:
        platform.step("testSecret", token)

    # THEN the current version and its login are untouched, no password leaks, no check secret remains
    assert platform.value() == current
    assert platform.stages()[token] == ["AWSPENDING"]
    assert (
        login_state(pg_server, current["username"], current["password"], platform.consumer.database) == "ok"
    )
    assert platform.value("AWSPENDING")["password"] not in str(failure.value)
    assert not [
        s for s in platform.secrets.list_secrets()["SecretList"] if s["Name"].startswith(CHECK_PREFIX)
    ]
    # AND Secrets Manager's retry of the same rotation repairs the layout and completes it
    for step in STEPS[1:]:
        platform.step(step, token)
    assert platform.value()["username"] == clone


def test_a_check_that_finds_the_wrong_identity_fails(platform: Platform) -> None:
    # GIVEN a login check that reports a session acting as another role
    class WrongIdentity:
        def whoami(self, value: Mapping[str, Any], name: str) -> tuple[object, ...]:
            return (value["username"], value["username"], value["dbname"])

    token = platform.start()
    platform.step("createSecret", token)
    platform.step("setSecret", token)

    # WHEN testSecret runs
    # THEN it refuses: the clone must act as the owner role
    with pytest.raises(RotationError, match="expected"):
        platform.step("testSecret", token, logins=WrongIdentity())


def test_every_step_is_idempotent(platform: Platform) -> None:
    # GIVEN a rotation
    token = platform.start()

    # WHEN Secrets Manager retries every step
    platform.step("createSecret", token)
    pending = platform.value("AWSPENDING")
    for step in STEPS:
        platform.step(step, token)
    for step in STEPS:
        platform.step(step, token)

    # THEN the value created first is current, and it logs in
    assert platform.value() == pending
    assert platform.whoami(pending)[0] == platform.consumer.clone


def test_migration_from_the_single_login_layout(
    pg_server: PgServer, master_role: str, secrets_client: Any
) -> None:
    # GIVEN a consumer as the previous bootstrap left it: one login owning its database and schema
    platform = Platform(pg_server, secrets_client, "legacy")
    old = platform.value()
    verifier = core.scram_sha256_verifier(old["password"])
    for sql, database in [
        (
            "CREATE ROLE legacy WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
            f" PASSWORD '{verifier}'",
            "postgres",
        ),
        ("GRANT legacy TO CURRENT_USER", "postgres"),
        ("CREATE DATABASE legacy_db OWNER legacy", "postgres"),
        ("REVOKE ALL ON DATABASE legacy_db FROM PUBLIC", "postgres"),
        ("GRANT CONNECT ON DATABASE legacy_db TO legacy", "postgres"),
        ("ALTER SCHEMA public OWNER TO legacy", "legacy_db"),
        ("REVOKE CREATE ON SCHEMA public FROM PUBLIC", "legacy_db"),
    ]:
        platform.master.execute(sql, database)
    task = pg_server.connect("legacy", old["password"], "legacy_db")
    try:
        task.run("CREATE TABLE public.flows (id integer)")

        # WHEN the new bootstrap runs on deploy (an Update), then the first rotation
        platform.bootstrap("Update")
        assert platform.value()["username"] == "legacy"
        assert login_state(pg_server, "legacy_clone", "", "legacy_db") == "28P01"
        platform.rotate()

        # THEN the running task's session and credential keep working, and its tables stay its own
        task.run("INSERT INTO public.flows VALUES (1)")
        task.run("CREATE TABLE public.runs (id integer)")
    finally:
        task.close()
    assert login_state(pg_server, "legacy", old["password"], "legacy_db") == "ok"
    assert platform.whoami(platform.value()) == ("legacy_clone", "legacy")
    assert pg_server.query(
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relname IN ('flows', 'runs')",
        database="legacy_db",
    ) == [("legacy",)]


def test_bootstrap_after_rotation_keeps_the_rotated_login(platform: Platform) -> None:
    # GIVEN a rotated consumer
    platform.rotate()
    rotated, previous = platform.value(), platform.value("AWSPREVIOUS")

    # WHEN a later deploy runs the bootstrap again
    platform.bootstrap("Update")

    # THEN the secret still names the clone, and both logins still work with their passwords
    assert platform.value() == rotated
    assert platform.whoami(rotated)[0] == platform.consumer.clone
    assert platform.whoami(previous)[0] == platform.consumer.username


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ({"username": MASTER}, "not one of"),
        ({"dbname": "postgres"}, "dbname"),
    ],
)
def test_a_tampered_secret_is_not_rotated(platform: Platform, tamper: dict[str, str], message: str) -> None:
    # GIVEN a secret whose current value names another role or database
    value = {**platform.value(), **tamper}
    platform.secrets.put_secret_value(SecretId=platform.arn, SecretString=json.dumps(value))

    # WHEN a rotation starts
    # THEN createSecret refuses and no pending value is made
    token = platform.start()
    with pytest.raises(RotationError, match=message):
        platform.step("createSecret", token)
    with pytest.raises(ClientError):
        platform.secrets.get_secret_value(SecretId=platform.arn, VersionId=token)


def test_unknown_secrets_and_unstaged_versions_are_refused(platform: Platform, secrets_client: Any) -> None:
    # GIVEN a secret the function is not configured for, and a version that is not pending
    other = secrets_client.create_secret(Name="blog/test/other", SecretString="{}")["ARN"]
    current_version = next(v for v, stages in platform.stages().items() if "AWSCURRENT" in stages)

    # WHEN steps are invoked for them
    # THEN they are refused, or (for the current version) nothing is done
    with pytest.raises(RotationError, match="not a consumer login"):
        on_rotate(
            {"SecretId": other, "ClientRequestToken": "t", "Step": "createSecret"},
            settings=platform.settings,
            secrets=secrets_client,
        )
    with pytest.raises(RotationError, match="no stage"):
        platform.step("createSecret", str(uuid.uuid4()))
    with pytest.raises(RotationError, match="must be one of"):
        platform.step("dropSecret", current_version)
    before = platform.value()
    platform.step("setSecret", current_version)
    assert platform.value() == before


def test_rotation_logs_no_password_or_verifier(platform: Platform, caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN logs captured at INFO, the level the function logs at (botocore's DEBUG wire log is off)
    caplog.set_level(logging.INFO)

    # WHEN a rotation runs
    platform.rotate()

    # THEN the steps are logged, without any password or verifier
    assert "finishSecret" in caplog.text
    for stage in ("AWSCURRENT", "AWSPREVIOUS"):
        assert platform.value(stage)["password"] not in caplog.text
    assert "SCRAM-SHA-256$" not in caplog.text


def test_settings_come_from_the_environment() -> None:
    # GIVEN the environment the construct sets, and one missing a variable
    environ = {
        "CLUSTER_ARN": CLUSTER_ARN,
        "MASTER_SECRET_ARN": "arn:master",
        "KMS_KEY_ID": "arn:key",
        "CHECK_SECRET_PREFIX": CHECK_PREFIX,
        "CONSUMERS": json.dumps(
            [{"SecretArn": "arn:s", "Name": "blog", "Database": "blog", "Username": "blog"}]
        ),
    }

    # WHEN they are read
    settings = Settings.from_environment(environ)

    # THEN consumers are keyed by secret ARN, and a gap or a bad consumer is named
    assert settings.consumer_for("arn:s").clone == "blog_clone"
    with pytest.raises(RotationError, match="KMS_KEY_ID"):
        Settings.from_environment({**environ, "KMS_KEY_ID": ""})
    with pytest.raises(RotationError, match="reserved"):
        Settings.from_environment(
            {
                **environ,
                "CONSUMERS": json.dumps([{**json.loads(environ["CONSUMERS"])[0], "Username": "postgres"}]),
            }
        )


def test_the_deployed_asset_imports_its_sibling(tmp_path: Path) -> None:
    # GIVEN the function's code directory alone, as Lambda unpacks it
    shutil.copytree(
        BOOTSTRAP_CODE, tmp_path / "task", ignore=shutil.ignore_patterns("__pycache__", "__init__.py")
    )

    # WHEN Python imports both handlers from it, isolated from the project
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, '.'); import rotation, handler;"
            " print(rotation.core is handler, rotation.on_rotate.__module__)",
        ],
        cwd=tmp_path / "task",
        capture_output=True,
        text=True,
        check=False,
    )

    # THEN the rotation uses the bootstrap's module as deployed
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "rotation"]
