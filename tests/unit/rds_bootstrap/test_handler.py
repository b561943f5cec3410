"""The Aurora consumer bootstrap, against a real PostgreSQL server (the Data API replaced by pg8000)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

import pg8000.exceptions
import pytest
from botocore.exceptions import ClientError

from infra.modules.core.rds.bootstrap.handler import (
    BootstrapError,
    Consumer,
    DataApiExecutor,
    Properties,
    bootstrap,
    on_event,
    physical_resource_id,
    plan,
    quote_identifier,
    quote_literal,
    scram_sha256_verifier,
    statements_for,
)

from ._postgres import PgExecutor, PgServer

CLUSTER_ARN = "arn:aws:rds:eu-west-1:123456789012:cluster:blog-platform"
MASTER_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1-AbCdEf"
SECRET_ARN_PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:blog/database/"
PENCIL_SALT = "Qf05VXYleuq3XD4oXnWnEA=="
PENCIL_VERIFIER = (
    "SCRAM-SHA-256$4096:Qf05VXYleuq3XD4oXnWnEA==$BAPMApzYd9R5KvC80pt4Xgi/2D5eVJ1Zbky6hz1Bm+M="
    ":RVumkWvCqvltns7v0XwdmzSE766M3O43RlI9CVkxODs="
)
"""PostgreSQL 18.6's own verifier of the password "pencil" (ALTER ROLE ... PASSWORD 'pencil')."""


def make_consumer(name: str) -> Consumer:
    return Consumer(name=name, database=f"{name}_db", username=f"{name}_user")


def current_user(server: PgServer, user: str, password: str, database: str) -> str:
    connection = server.connect(user, password, database)
    try:
        rows = connection.run("SELECT current_user")
    finally:
        connection.close()
    return str(rows[0][0])


def login_failure(server: PgServer, user: str, password: str, database: str) -> str:
    """The SQLSTATE of a login that must fail."""
    with pytest.raises(pg8000.exceptions.DatabaseError) as caught:
        server.connect(user, password, database).close()
    details = caught.value.args[0]
    assert isinstance(details, Mapping)
    return str(details["C"])


def catalog_state(server: PgServer, consumer: Consumer) -> tuple[object, ...]:
    role = quote_literal(consumer.username)
    database = quote_literal(consumer.database)
    (role_row,) = server.query(
        "SELECT oid, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication,"
        f" rolbypassrls FROM pg_catalog.pg_authid WHERE rolname = {role}"
    )
    (database_row,) = server.query(
        "SELECT oid, pg_catalog.pg_get_userbyid(datdba), datacl::text,"
        f" has_database_privilege('public', datname, 'CONNECT'),"
        f" has_database_privilege({role}, datname, 'CONNECT')"
        f" FROM pg_catalog.pg_database WHERE datname = {database}"
    )
    (schema_row,) = server.query(
        "SELECT pg_catalog.pg_get_userbyid(nspowner), has_schema_privilege('public', oid, 'CREATE')"
        " FROM pg_catalog.pg_namespace WHERE nspname = 'public'",
        database=consumer.database,
    )
    return role_row + database_row + schema_row


class FakeSecrets:
    """Secrets Manager as a dict of ARN to SecretString."""

    def __init__(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        self.values = {arn: json.dumps(value) for arn, value in values.items()}
        self.writes: list[str] = []

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        return {"ARN": SecretId, "SecretString": self.values[SecretId]}

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> Mapping[str, Any]:
        self.values[SecretId] = SecretString
        self.writes.append(SecretId)
        return {"ARN": SecretId}

    def read(self, arn: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.values[arn])
        return value


def resource_event(server: PgServer, names: list[str], request: str = "Create") -> dict[str, Any]:
    token = "arn:aws:lambda:eu-west-1:123456789012:function:provider"
    return {
        "RequestType": request,
        "ServiceToken": token,
        "ResourceType": "Custom::AuroraBootstrap",
        "LogicalResourceId": "Bootstrap",
        "ResourceProperties": {
            "ServiceToken": token,
            "ClusterArn": CLUSTER_ARN,
            "MasterSecretArn": MASTER_SECRET_ARN,
            "Host": server.host,
            "Port": str(server.port),
            "Consumers": [
                {
                    "Name": name,
                    "Database": f"{name}_db",
                    "Username": f"{name}_user",
                    "SecretArn": SECRET_ARN_PREFIX + name,
                }
                for name in names
            ],
        },
    }


def test_bootstrap_creates_role_database_and_ownership(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a consumer that does not exist yet
    consumer = make_consumer("fresh")

    # WHEN it is bootstrapped
    created = bootstrap(executor, [(consumer, "fresh-password-1")])

    # THEN a plain login role owns a private database and its public schema
    state = catalog_state(pg_server, consumer)
    assert created == ["fresh_db"]
    assert state[1:8] == (True, False, False, False, False, False, False)
    assert state[9] == "fresh_user"
    assert state[11:] == (False, True, "fresh_user", False)
    (password_row,) = pg_server.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'fresh_user'")
    assert str(password_row[0]).startswith("SCRAM-SHA-256$4096:")


def test_bootstrap_twice_is_a_no_op(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a bootstrapped consumer
    consumer = make_consumer("twice")
    bootstrap(executor, [(consumer, "twice-password")])
    before = catalog_state(pg_server, consumer)

    # WHEN the bootstrap runs again with the same password
    created = bootstrap(executor, [(consumer, "twice-password")])

    # THEN nothing is created or changed, and the password still works
    assert created == []
    assert catalog_state(pg_server, consumer) == before
    assert current_user(pg_server, "twice_user", "twice-password", "twice_db") == "twice_user"


def test_consumer_logs_in_with_scram_and_is_fenced_off(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN two bootstrapped consumers
    alpha, beta = make_consumer("alpha"), make_consumer("beta")
    bootstrap(executor, [(alpha, "alpha-secret-pw"), (beta, "beta-secret-pw")])

    # WHEN alpha logs in to its own database (the server only offers SCRAM-SHA-256)
    connection = pg_server.connect("alpha_user", "alpha-secret-pw", "alpha_db")
    try:
        connection.run("CREATE TABLE public.posts (id integer)")
        rows = connection.run("SELECT current_user, current_database()")
    finally:
        connection.close()

    # THEN it works as alpha and may create objects, but alpha cannot enter beta's database
    assert rows == [["alpha_user", "alpha_db"]]
    assert login_failure(pg_server, "alpha_user", "alpha-secret-pw", "beta_db") == "42501"
    assert login_failure(pg_server, "beta_user", "beta-secret-pw", "alpha_db") == "42501"


def test_wrong_password_is_rejected(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a bootstrapped consumer
    bootstrap(executor, [(make_consumer("guarded"), "the-right-password")])

    # WHEN it logs in with another password
    state = login_failure(pg_server, "guarded_user", "the-wrong-password", "guarded_db")

    # THEN authentication fails
    assert state == "28P01"


def test_password_rotation_replaces_the_verifier(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a consumer bootstrapped with a first password
    consumer = make_consumer("rotating")
    bootstrap(executor, [(consumer, "first-password")])

    # WHEN the bootstrap runs with a new password
    created = bootstrap(executor, [(consumer, "second-password")])

    # THEN only the new password logs in
    assert created == []
    assert current_user(pg_server, "rotating_user", "second-password", "rotating_db") == "rotating_user"
    assert login_failure(pg_server, "rotating_user", "first-password", "rotating_db") == "28P01"


def test_master_user_without_superuser_can_bootstrap(pg_server: PgServer) -> None:
    # GIVEN a master user like Aurora's: CREATEDB and CREATEROLE, but not a superuser
    pg_server.query("CREATE ROLE like_aurora_master LOGIN CREATEDB CREATEROLE PASSWORD 'master-pw'")
    master = PgExecutor(pg_server, user="like_aurora_master", password="master-pw")
    consumer = make_consumer("unprivileged")

    # WHEN it bootstraps a consumer twice
    first = bootstrap(master, [(consumer, "consumer-pw")])
    second = bootstrap(master, [(consumer, "consumer-pw-2")])

    # THEN the consumer owns its database and schema and logs in with the latest password
    state = catalog_state(pg_server, consumer)
    assert (first, second) == (["unprivileged_db"], [])
    assert (state[9], state[11:]) == ("unprivileged_user", (False, True, "unprivileged_user", False))
    assert (
        current_user(pg_server, "unprivileged_user", "consumer-pw-2", "unprivileged_db")
        == "unprivileged_user"
    )


def test_existing_privileged_role_is_refused(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a superuser role whose name a consumer claims
    pg_server.query("CREATE ROLE sneaky_user SUPERUSER LOGIN")

    # WHEN the consumer is bootstrapped
    with pytest.raises(BootstrapError, match="privileged") as caught:
        bootstrap(executor, [(make_consumer("sneaky"), "sneaky-password")])

    # THEN the role is left alone, no database is made, and the error does not leak the password
    assert "sneaky-password" not in str(caught.value)
    assert pg_server.query("SELECT rolsuper FROM pg_roles WHERE rolname = 'sneaky_user'") == [(True,)]
    assert pg_server.query("SELECT 1 FROM pg_database WHERE datname = 'sneaky_db'") == []


@pytest.mark.parametrize(
    "hostile",
    [
        'robert"; DROP DATABASE postgres; --',
        "x' OR '1'='1",
        "Upper",
        "9lives",
        "",
        "a" * 64,
        "with-dash",
        "with space",
        "caf\u00e9",
        "nul\x00byte",
        "pg_monitor",
        "rdsadmin",
        "postgres",
        "public",
        "template1",
        "current_user",
    ],
)
def test_hostile_names_are_rejected(hostile: str) -> None:
    # GIVEN a hostile or reserved identifier
    # WHEN it is used as a database or a username
    # THEN the consumer cannot even be described
    with pytest.raises(ValueError):
        Consumer(name="ok", database=hostile, username="ok_user")
    with pytest.raises(ValueError):
        Consumer(name="ok", database="ok_db", username=hostile)


def test_quoting_escapes_and_validates() -> None:
    # GIVEN identifiers and literals
    # WHEN they are quoted
    # THEN identifiers are validated and double-quoted, literals single-quoted with quotes doubled
    assert quote_identifier("blog_db") == '"blog_db"'
    assert quote_literal("O'Brien\\") == "'O''Brien\\'"
    with pytest.raises(ValueError):
        quote_identifier('a"b')
    with pytest.raises(ValueError):
        quote_literal("a\x00b")
    with pytest.raises(ValueError):
        Consumer(name="../etc", database="ok_db", username="ok_user")


def test_verifier_matches_postgresql_known_vector(pg_server: PgServer) -> None:
    # GIVEN the salt PostgreSQL used for its own verifier of "pencil"
    salt = base64.b64decode(PENCIL_SALT)

    # WHEN the verifier is computed here with that salt and set on a role
    verifier = scram_sha256_verifier("pencil", salt=salt)
    pg_server.query(f"CREATE ROLE vector_user LOGIN PASSWORD {quote_literal(verifier)}")

    # THEN it is byte for byte PostgreSQL's, and PostgreSQL accepts the password with it
    assert verifier == PENCIL_VERIFIER
    assert current_user(pg_server, "vector_user", "pencil", "postgres") == "vector_user"
    assert login_failure(pg_server, "vector_user", "pencil!", "postgres") == "28P01"


@pytest.mark.parametrize(
    "password",
    [
        "pencil",
        "correct horse battery staple",
        "P\u00e4ssw\u00f6rd\u00a0\u2168",
        "soft\u00adhyphen",
        "\u0627\u0644\u0633\u0644\u0627\u0645",
        "mixed\u0627",
    ],
    ids=["ascii", "spaces", "mapped-and-nfkc", "mapped-to-nothing", "right-to-left", "prohibited-bidi"],
)
def test_verifier_prepares_passwords_like_postgresql(pg_server: PgServer, password: str) -> None:
    # GIVEN PostgreSQL's own verifier of a password, hashed by the server
    pg_server.query("DROP ROLE IF EXISTS oracle_user")
    pg_server.query(f"CREATE ROLE oracle_user PASSWORD {quote_literal(password)}")
    ((expected,),) = pg_server.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'oracle_user'")
    salt = base64.b64decode(str(expected).split(":")[1].split("$")[0])

    # WHEN the verifier is computed here with the same salt
    verifier = scram_sha256_verifier(password, salt=salt)

    # THEN both agree, SASLprep included
    assert verifier == expected


def test_statements_carry_the_verifier_never_the_password() -> None:
    # GIVEN a consumer and the verifier of its password
    consumer = make_consumer("blog")
    verifier = scram_sha256_verifier("plain-text-password")

    # WHEN its statements are planned
    statements = statements_for(consumer, verifier)

    # THEN the verifier appears once, the password never, and a password is refused as a verifier
    assert sum(verifier in sql for sql in statements) == 1
    assert not any("plain-text-password" in sql for sql in statements)
    assert [step.database for step in plan(consumer, verifier)][-2:] == ["blog_db", "blog_db"]
    with pytest.raises(ValueError, match="not a password"):
        statements_for(consumer, "plain-text-password")


def test_on_event_create_bootstraps_and_writes_the_secret(
    pg_server: PgServer, executor: PgExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN consumer secrets as CDK generates them, with only a password besides the template
    caplog.set_level(logging.DEBUG)
    passwords = {"backstage": "Bk7pQ2xZr9LmN4vT8sWc", "prefect": "Pf3hJ6kD1gY5uR0eA2nM"}
    secrets = FakeSecrets(
        {
            SECRET_ARN_PREFIX + name: {"username": name, "dbname": name, "engine": "postgres", "password": pw}
            for name, pw in passwords.items()
        }
    )

    # WHEN CloudFormation sends Create
    response = on_event(resource_event(pg_server, list(passwords)), None, secrets=secrets, executor=executor)

    # THEN each secret holds the connection fields, and they log the consumer in
    assert response["PhysicalResourceId"] == physical_resource_id(CLUSTER_ARN)
    assert response["Data"] == {"Databases": "backstage_db,prefect_db", "Created": "backstage_db,prefect_db"}
    for name, password in passwords.items():
        value = secrets.read(SECRET_ARN_PREFIX + name)
        assert value == {
            "username": f"{name}_user",
            "password": password,
            "host": pg_server.host,
            "port": pg_server.port,
            "dbname": f"{name}_db",
            "engine": "postgres",
        }
        login = current_user(pg_server, value["username"], value["password"], value["dbname"])
        assert login == f"{name}_user"
    # AND the logs name the work but never a password or a verifier
    assert caplog.records
    assert "backstage" in caplog.text
    assert not any(password in caplog.text for password in passwords.values())
    assert "SCRAM-SHA-256$" not in caplog.text


def test_on_event_update_rerun_rewrites_nothing(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a consumer created by an earlier Create
    secrets = FakeSecrets({SECRET_ARN_PREFIX + "rerun": {"password": "rerun-password"}})
    on_event(resource_event(pg_server, ["rerun"]), None, secrets=secrets, executor=executor)

    # WHEN CloudFormation sends Update with the same properties
    event = {**resource_event(pg_server, ["rerun"], "Update"), "PhysicalResourceId": "old-id"}
    response = on_event(event, None, secrets=secrets, executor=executor)

    # THEN the secret is not written again and nothing new is created
    assert secrets.writes == [SECRET_ARN_PREFIX + "rerun"]
    assert response["Data"]["Created"] == ""
    assert response["PhysicalResourceId"] == physical_resource_id(CLUSTER_ARN)


def test_on_event_delete_retains_everything(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a Delete request
    event = {**resource_event(pg_server, ["gone"], "Delete"), "PhysicalResourceId": "the-id"}
    secrets = FakeSecrets({})

    # WHEN it is handled
    response = on_event(event, None, secrets=secrets, executor=executor)

    # THEN nothing runs and the id is kept
    assert response == {"PhysicalResourceId": "the-id"}
    assert executor.calls == []
    assert secrets.writes == []


def test_on_event_rejects_hostile_properties(pg_server: PgServer, executor: PgExecutor) -> None:
    # GIVEN a Create whose database name is an injection attempt
    event = resource_event(pg_server, ["evil"])
    event["ResourceProperties"]["Consumers"][0]["Database"] = 'x"; DROP DATABASE postgres; --'

    # WHEN it is handled
    with pytest.raises(BootstrapError, match=r"Consumers\[0\]"):
        on_event(event, None, secrets=FakeSecrets({}), executor=executor)

    # THEN no SQL was run
    assert executor.calls == []


def test_failures_are_reported_without_secrets() -> None:
    # GIVEN a transport whose errors quote the statement, as database errors sometimes do
    class EchoingExecutor:
        def execute(self, sql: str, database: str) -> list[tuple[object, ...]]:
            if sql.startswith("ALTER ROLE"):
                raise RuntimeError(f"syntax error at or near {sql!r}")
            return []

    # WHEN the bootstrap fails on the password statement
    with pytest.raises(BootstrapError) as caught:
        bootstrap(EchoingExecutor(), [(make_consumer("leaky"), "leaky-password")])

    # THEN the message names consumer and step, with the verifier redacted
    message = str(caught.value)
    assert "'leaky'" in message and "password" in message and "***" in message
    assert "SCRAM-SHA-256$" not in message and "leaky-password" not in message
    assert caught.value.__suppress_context__


def test_properties_require_a_port_and_consumers() -> None:
    # GIVEN properties without a valid port, and without consumers
    base = {"ClusterArn": CLUSTER_ARN, "MasterSecretArn": MASTER_SECRET_ARN, "Host": "db.example"}

    # WHEN they are parsed
    # THEN each is refused with the property named
    with pytest.raises(BootstrapError, match="Port"):
        Properties.parse({**base, "Port": "http", "Consumers": []})
    with pytest.raises(BootstrapError, match="Consumers"):
        Properties.parse({**base, "Port": "5432", "Consumers": []})


def test_data_api_executor_retries_while_resuming_and_decodes_records() -> None:
    # GIVEN a Data API that is resuming once, then answers
    class FakeRdsData:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def execute_statement(self, **request: Any) -> Mapping[str, Any]:
            self.calls.append(request)
            if len(self.calls) == 1:
                raise ClientError(
                    {"Error": {"Code": "DatabaseResumingException", "Message": "resuming"}},
                    "ExecuteStatement",
                )
            return {
                "records": [
                    [{"stringValue": "a"}, {"longValue": 7}, {"isNull": True}, {"booleanValue": True}]
                ]
            }

    client, sleeps = FakeRdsData(), list[float]()
    data_api = DataApiExecutor(CLUSTER_ARN, MASTER_SECRET_ARN, client=client, sleep=sleeps.append)

    # WHEN a statement runs
    rows = data_api.execute("SELECT 1", "blog_db")

    # THEN it was retried once with the master secret and the rows are decoded
    assert rows == [("a", 7, None, True)]
    assert sleeps == [5.0]
    assert client.calls[-1] == {
        "resourceArn": CLUSTER_ARN,
        "secretArn": MASTER_SECRET_ARN,
        "database": "blog_db",
        "sql": "SELECT 1",
    }
