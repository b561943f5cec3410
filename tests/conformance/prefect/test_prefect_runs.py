"""Prod's Prefect (standard and lean) runs with exactly the configuration the templates give it.

Each test reads what the real Prefect 3.9.1, prefect-aws 0.7.12 and prefect-redis 0.3.0 do when
started from the synthesized task definitions (see conftest.py). The tests run in file order; the
last one stops every container with SIGTERM.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from blog_infra.sandbox import images, runtime
from tests.conformance.prefect.conftest import PrefectRun

API = "http://127.0.0.1:4200"


def _get(path: str, *, auth: str | None = None, accept: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(f"{API}{path}", headers={"Accept": accept})
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def test_every_container_runs_as_its_user_on_a_read_only_root_with_its_tmpfs(prefect_run: PrefectRun) -> None:
    for name, container in prefect_run.containers.items():
        definition = prefect_run.definition(name)
        assert definition.user == "1000:1000" and definition.read_only_root
        mountinfo = Path(f"/proc/{container.pid}/mountinfo").read_text(encoding="utf-8")
        mounts = [line.split() for line in mountinfo.splitlines()]
        root = next(fields for fields in mounts if fields[4] == "/")
        assert "ro" in root[5].split(","), f"{name}: / is mounted {root[5]}"
        [scratch] = definition.tmpfs
        site_packages = runtime.ensure(images.model(definition.image)).site_packages
        probe = container.exec_in(
            [
                "sh",
                "-c",
                f"id -u; id -g; touch {site_packages}/probe; "
                f"touch {scratch.path}/probe && echo scratch-writable",
            ],
            timeout=10,
        )
        lines = probe.stdout.split()
        assert lines[:2] == ["1000", "1000"], f"{name}: {probe.stdout}"
        assert "Read-only file system" in probe.stderr, f"{name}: {probe.stderr}"
        assert "scratch-writable" in probe.stdout, f"{name}: {probe.stderr}"


def test_every_prefect_variable_is_a_setting_of_the_pinned_packages(prefect_run: PrefectRun) -> None:
    names = sorted(
        {
            variable
            for name in prefect_run.containers
            for variable in (
                *prefect_run.definition(name).environment,
                *prefect_run.definition(name).secrets,
            )
            if variable.startswith("PREFECT_")
        }
    )
    assert len(names) > 10
    assert prefect_run.prefect_client("unknown-settings", *names) == {"unknown": []}


def test_every_container_health_check_passes(prefect_run: PrefectRun) -> None:
    for name, container in prefect_run.containers.items():
        check = prefect_run.definition(name).health_check
        result = container.health_check(check.command, timeout=check.timeout)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert prefect_run.healthy_after[name] < check.start_period + check.retries * check.interval


def test_migrations_ran_over_verified_tls_and_plain_connections_are_refused(prefect_run: PrefectRun) -> None:
    postgres = prefect_run.platform.postgres
    assert postgres is not None
    migrator = "services" if "services" in prefect_run.containers else "api"
    assert "Migrations succeeded!" in prefect_run.containers[migrator].log()
    [(version,)] = postgres.execute("SELECT count(*) FROM alembic_version", "prefect")
    assert version == 1
    rows = postgres.execute(
        "SELECT a.usename, s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.datname = 'prefect'",
        "postgres",
    )
    assert rows and all(user == "prefect" and ssl for user, ssl in rows), rows
    login = json.loads(
        prefect_run.platform.secrets.values[
            prefect_run.definition("api").secrets["PREFECT_SERVER_DATABASE_PASSWORD"].arn
        ]
    )

    def psql(sslmode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["psql",
             f"host=127.0.0.1 port={postgres.port} user={login['username']} dbname={login['dbname']} "
             f"sslmode={sslmode}",
             "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
            env={"PGPASSWORD": login["password"], "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip

    assert psql("require").stdout.strip() == "t"
    refused = psql("disable")
    assert refused.returncode != 0 and "no encryption" in refused.stderr, refused.stderr


def test_api_answers_health_and_the_auth_string_gates_it(prefect_run: PrefectRun) -> None:
    status, _ = _get("/api/health", auth=prefect_run.auth_string)
    assert status == 200
    assert _get("/api/flows/count")[0] == 401
    assert _get("/api/admin/version", auth="wrong")[0] == 401
    status, body = _get("/api/admin/version", auth=prefect_run.auth_string)
    assert status == 200 and json.loads(body) == "3.9.1"


def test_the_ui_is_served_with_csrf_on(prefect_run: PrefectRun) -> None:
    status, body = _get("/", accept="text/html")
    assert status == 200 and b"<html" in body.lower()
    status, body = _get("/ui-settings")
    assert status == 200
    settings = json.loads(body)
    assert settings["available_uis"], settings
    assert settings["csrf_enabled"] is True
    assert settings["api_url"] == f"https://{prefect_run.config.pipelines_host}/api"
    for name, container in prefect_run.containers.items():
        assert "Read-only file system" not in container.log(), f"{name} tried to write into the image"


def test_server_processes_use_redis_where_the_profile_has_it(prefect_run: PrefectRun) -> None:
    redis = prefect_run.platform.redis
    if prefect_run.profile == "lean":
        assert redis is None
        environment = prefect_run.definition("api").environment
        assert not [name for name in environment if "REDIS" in name]
        return
    assert redis is not None

    def redis_cli(*arguments: str) -> str:
        result = subprocess.run(
            [
                "redis-cli",
                "--tls",
                "--cacert",
                str(redis.ca.bundle),
                "-h",
                "127.0.0.1",
                "-p",
                str(redis.port),
                "--no-auth-warning",
                "-a",
                redis.password,
                *arguments,
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return result.stdout

    clients = redis_cli("CLIENT", "LIST").strip().splitlines()
    assert len(clients) >= 3, clients
    assert redis_cli("-n", "1", "DBSIZE").strip() != "0", "Docket keeps nothing in Redis database 1"
    assert redis_cli("-n", "0", "DBSIZE").strip() != "0", "the messaging broker keeps nothing in database 0"


def test_published_job_variables_validate_against_prefect_aws(prefect_run: PrefectRun) -> None:
    result = prefect_run.prefect_client("validate-job-variables", json.dumps(prefect_run.job_variables()))
    assert result == {"errors": []}


def test_a_flow_run_becomes_an_ecs_task_with_the_published_network_roles_and_launch_type(
    prefect_run: PrefectRun,
) -> None:
    variables = prefect_run.job_variables()
    submitted = prefect_run.prefect_client(
        "submit", prefect_run.config.prefect.work_pool, json.dumps(variables)
    )
    assert submitted.get("work_pool_type") == "ecs", submitted
    ecs = prefect_run.aws("ecs")
    cluster = variables["cluster"]
    [task_arn] = _wait(lambda: ecs.list_tasks(cluster=cluster)["taskArns"], timeout=90, what="RunTask")
    [task] = ecs.describe_tasks(cluster=cluster, tasks=[task_arn], include=["TAGS"])["tasks"]
    tags = {tag["key"]: tag["value"] for tag in task["tags"]}
    assert tags["prefect.io/flow-run-id"] == submitted["flow_run_id"]
    assert task["clusterArn"] == cluster
    assert task["group"].startswith("family:prefect_")
    if variables["launch_type"] == "FARGATE_SPOT":
        assert prefect_run.profile == "lean"
        assert task.get("capacityProviderName") == "FARGATE_SPOT"
    else:
        assert task["launchType"] == "FARGATE"
    details = {item["name"]: item["value"] for item in task["attachments"][0]["details"]}
    assert details["subnetId"] in variables["network_configuration"]["subnets"]
    [interface] = prefect_run.aws("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"]
    assert [group["GroupId"] for group in interface["Groups"]] == variables["network_configuration"][
        "securityGroups"
    ]
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    overrides = task.get("overrides", {})
    assert overrides.get("taskRoleArn", definition.get("taskRoleArn")) == variables["task_role_arn"]
    assert (
        overrides.get("executionRoleArn", definition.get("executionRoleArn"))
        == variables["execution_role_arn"]
    )
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    [container] = definition["containerDefinitions"]
    assert {
        "name": "PREFECT_API_AUTH_STRING",
        "valueFrom": variables["prefect_api_auth_string_secret_arn"],
    } in (container["secrets"])
    assert (
        container["logConfiguration"]["options"]["awslogs-group"]
        == (variables["cloudwatch_logs_options"]["awslogs-group"])
    )
    prefect_run.platform.workdir.joinpath("flow-run.json").write_text(
        json.dumps({"flow_run_id": submitted["flow_run_id"], "task": task}, default=str)
    )


def test_the_observer_reads_its_queue_and_marks_a_crashed_flow_run(prefect_run: PrefectRun) -> None:
    recorded = json.loads(prefect_run.platform.workdir.joinpath("flow-run.json").read_text())
    task = recorded["task"]
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": prefect_run.account,
        "time": "2026-01-01T00:00:00Z",
        "region": prefect_run.region,
        "resources": [task["taskArn"]],
        "detail": {
            "clusterArn": task["clusterArn"],
            "taskArn": task["taskArn"],
            "taskDefinitionArn": task["taskDefinitionArn"],
            "group": task["group"],
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "prefect", "exitCode": 137, "lastStatus": "STOPPED"}],
        },
    }
    rule = next(r for r in prefect_run.template["Resources"].values() if r["Type"] == "AWS::Events::Rule")
    pattern = prefect_run.platform.resolver.resolve(rule["Properties"]["EventPattern"])
    events = prefect_run.aws("events")
    assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"]
    other = json.loads(json.dumps(event))
    other["detail"]["group"] = "service:blog-prod-PrefectWorker"
    assert not events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(other))["Result"]

    sqs = prefect_run.aws("sqs")
    [target] = rule["Properties"]["Targets"]
    name = prefect_run.platform.resolver.get_att(target["Arn"]["Fn::GetAtt"][0], "QueueName")
    queue_url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    def crashed() -> dict[str, Any] | None:
        state = prefect_run.prefect_client("flow-run", recorded["flow_run_id"])
        return state if state["state_type"] == "CRASHED" else None

    state = _wait(crashed, timeout=90, what="the observer marking the flow run crashed")
    assert "non-zero exit code" in (state["message"] or "")

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return attributes == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }

    _wait(drained, timeout=60, what="the observer deleting the message")


def test_sigterm_stops_every_container_within_its_stop_timeout(prefect_run: PrefectRun) -> None:
    for task, name in reversed(prefect_run.order):
        definition = prefect_run.platform.definitions[(task, name)]
        took = prefect_run.containers[name].stop(timeout=float(definition.stop_timeout))
        assert took is not None, f"{name} ignored SIGTERM for {definition.stop_timeout} s and was killed"
        assert prefect_run.containers[name].process.returncode is not None
