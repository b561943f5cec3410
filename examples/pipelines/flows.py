"""An example blog_data flow on the platform: read an object from the raw bucket, write a result to the
clean bucket and a row to the pipelines database.

Everything it needs comes from the platform's consumer contract (SSM parameters under
`BLOG_CONTRACT_PREFIX`), read with the flow-run task role: the buckets' names and the ARN of the
`pipelines` database login, whose secret holds host, port, dbname, username and password. The
connection verifies the server's certificate against `PGSSLROOTCERT` (the image's trust store: a
blog_data image adds the RDS CA bundle to it).
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import boto3
import psycopg
from prefect import flow, get_run_logger, task


def _contract(name: str) -> str:
    prefix = os.environ["BLOG_CONTRACT_PREFIX"]
    value: str = boto3.client("ssm").get_parameter(Name=f"{prefix}/{name}")["Parameter"]["Value"]
    return value


@task
def read_raw(key: str) -> list[dict[str, Any]]:
    bucket = _contract("data/buckets/raw")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    records: list[dict[str, Any]] = json.loads(body)
    return records


@task
def write_clean(key: str, records: list[dict[str, Any]]) -> str:
    bucket = _contract("data/buckets/clean")
    cleaned = [{**record, "title": str(record.get("title", "")).strip()} for record in records]
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(cleaned).encode())
    return f"s3://{bucket}/{key}"


@task
def record_run(key: str, rows: int) -> None:
    login = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=_contract("database/secrets/pipelines"))[
            "SecretString"
        ]
    )
    with psycopg.connect(
        host=login["host"],
        port=login["port"],
        dbname=login["dbname"],
        user=login["username"],
        password=login["password"],
        sslmode="verify-full",
        sslrootcert=os.environ.get("PGSSLROOTCERT", "/etc/ssl/certs/ca-certificates.crt"),
        application_name="example-raw-to-clean",
    ) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS example_runs (key text NOT NULL, rows integer NOT NULL, "
            "written_at timestamptz NOT NULL DEFAULT now())"
        )
        connection.execute("INSERT INTO example_runs (key, rows) VALUES (%s, %s)", (key, rows))


@flow(log_prints=True)
def raw_to_clean(key: str = "example/posts.json") -> str:
    """Clean the records of `key` in the raw bucket into the clean bucket, and record the run."""
    records = read_raw(key)
    written = write_clean(key, records)
    record_run(key, len(records))
    get_run_logger().info("wrote %d records to %s", len(records), written)
    return written


@flow
def always_fails() -> None:
    """A flow that raises: its run ends FAILED."""
    raise RuntimeError("this flow fails on purpose")


@flow
def killed() -> None:
    """Stands in for a container killed from outside (out of memory: exit code 137). The flow's
    process and the Prefect process above it end at once, so nothing in the container reports the
    run's state; the ECS observer marks it Crashed from the task's STOPPED event."""
    os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


@flow
def sleeps(seconds: int = 600) -> None:
    """A flow that waits: cancel its run and its container is stopped."""
    import time

    time.sleep(seconds)
