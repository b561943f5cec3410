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


def test_the_worker_makes_the_published_job_variables_the_work_pools_defaults(
    prefect_run: PrefectRun,
) -> None:
    pool = prefect_run.prefect_client("work-pool", prefect_run.config.prefect.work_pool)
    assert pool["type"] == "ecs"
    published = prefect_run.job_variables()
    assert {key: pool["defaults"].get(key) for key in published} == published


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


_CSRF: dict[str, dict[str, str]] = {}
"""Per platform (by its auth string), the CSRF client id and token of these tests, issued by whichever
replica was asked first: the tokens live in the database, so every replica accepts them."""


def _call(base: str, method: str, path: str, body: Any, *, auth: str, timeout: float = 15) -> tuple[int, Any]:
    """One request to one API task (`base`: a replica's own address, or the balancer's), with the
    CSRF token that Prefect's own client sends (the API has CSRF protection on)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api{path}", data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    request.add_header("Content-Type", "application/json")
    if method != "GET":
        if auth not in _CSRF:
            client = str(uuid.uuid4())
            status, issued = _call(base, "GET", f"/csrf-token?client={client}", None, auth=auth)
            assert status == 200, issued
            _CSRF[auth] = {"client": client, "token": issued["token"]}
        request.add_header("Prefect-Csrf-Token", _CSRF[auth]["token"])
        request.add_header("Prefect-Csrf-Client", _CSRF[auth]["client"])
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw) if raw else None
        except ValueError:
            return error.code, raw.decode(errors="replace")


def _alternating(prefect_run: PrefectRun) -> tuple[str, str]:
    """Two API tasks to alternate between: the standard profile's two replicas; lean's one, twice."""
    addresses = prefect_run.api_addresses()
    return addresses[0], addresses[-1]


def test_every_api_replica_serves_and_the_balancer_spreads_connections(prefect_run: PrefectRun) -> None:
    addresses = prefect_run.api_addresses()
    expected = prefect_run.config.prefect.server.min_capacity
    assert len(addresses) == expected, addresses
    for base in addresses:
        assert _call(base, "GET", "/health", None, auth=prefect_run.auth_string) == (200, True)
    if prefect_run.balancer is None:
        assert expected == 1
        return
    before = list(prefect_run.balancer.connections)
    for _ in range(4):
        assert _get("/api/health", auth=prefect_run.auth_string)[0] == 200
    after = prefect_run.balancer.connections
    assert all(b - a >= 2 for a, b in zip(before, after, strict=True)), (before, after)


def test_a_global_concurrency_limit_taken_on_one_replica_is_released_on_the_other(
    prefect_run: PrefectRun,
) -> None:
    one, other = _alternating(prefect_run)
    auth = prefect_run.auth_string
    name = f"limit-{uuid.uuid4().hex[:8]}"
    status, _ = _call(one, "POST", "/v2/concurrency_limits/", {"name": name, "limit": 2}, auth=auth)
    assert status == 201

    def take(base: str) -> tuple[int, Any]:
        return _call(
            base,
            "POST",
            "/v2/concurrency_limits/increment-with-lease",
            {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": 120},
            auth=auth,
        )

    def active(base: str) -> int:
        status, limit = _call(base, "GET", f"/v2/concurrency_limits/{name}", None, auth=auth)
        assert status == 200, limit
        return int(limit["active_slots"])

    first, second = take(one), take(other)
    assert first[0] == 200 and second[0] == 200, (first, second)
    assert take(one)[0] == 423, "a third slot was granted over a limit of 2"
    assert active(one) == active(other) == 2
    lease = first[1]["lease_id"]
    assert (
        _call(other, "POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": lease}, auth=auth)[0]
        == 204
    )
    assert active(one) == active(other) == 1, "the lease taken on one replica was not released on the other"
    assert take(one)[0] == 200
    assert take(other)[0] == 423


def test_an_event_posted_to_one_replica_is_persisted_exactly_once(prefect_run: PrefectRun) -> None:
    one, other = _alternating(prefect_run)
    auth = prefect_run.auth_string
    event_id = str(uuid.uuid4())
    resource = f"conformance.replicas.{event_id}"
    event = {
        "id": event_id,
        "occurred": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        "event": "conformance.replicas.posted",
        "resource": {"prefect.resource.id": resource},
    }
    assert _call(one, "POST", "/events", [event], auth=auth)[0] == 204
    query = {
        "filter": {"any_resource": {"id": [resource]}, "event": {"name": ["conformance.replicas.posted"]}}
    }

    def found() -> list[Any]:
        status, page = _call(other, "POST", "/events/filter", query, auth=auth)
        assert status == 200, page
        return list(page["events"])

    _wait(found, timeout=60, what="the event posted to one replica appearing through the other")
    time.sleep(5)
    events = found()
    assert [e["id"] for e in events] == [event_id], events


def test_a_scheduled_deployment_gets_each_run_once(prefect_run: PrefectRun) -> None:
    one, other = _alternating(prefect_run)
    auth = prefect_run.auth_string
    status, flow = _call(one, "POST", "/flows/", {"name": f"scheduled-{uuid.uuid4().hex[:8]}"}, auth=auth)
    assert status in (200, 201), flow
    deployment = {
        "name": "every-minute",
        "flow_id": flow["id"],
        "schedules": [{"schedule": {"interval": 60}, "active": True}],
        "paused": False,
    }
    status, created = _call(other, "POST", "/deployments/", deployment, auth=auth)
    assert status in (200, 201), created
    runs_filter = {"deployments": {"id": {"any_": [created["id"]]}}, "limit": 200}

    def scheduled() -> list[Any]:
        status, runs = _call(one, "POST", "/flow_runs/filter", runs_filter, auth=auth)
        assert status == 200, runs
        return list(runs) if len(runs) >= 3 else []

    _wait(scheduled, timeout=90, what="the scheduler creating the deployment's runs")
    time.sleep(10)
    status, runs = _call(other, "POST", "/flow_runs/filter", runs_filter, auth=auth)
    starts = [run["expected_start_time"] for run in runs]
    assert len(starts) == len(set(starts)), f"a scheduled time got more than one run: {sorted(starts)}"
    _call(one, "DELETE", f"/deployments/{created['id']}", None, auth=auth)


def test_the_vacuum_deletes_flow_runs_past_the_retention_period(prefect_run: PrefectRun) -> None:
    postgres = prefect_run.platform.postgres
    assert postgres is not None
    auth = prefect_run.auth_string
    one, other = _alternating(prefect_run)
    status, flow = _call(one, "POST", "/flows/", {"name": f"vacuumed-{uuid.uuid4().hex[:8]}"}, auth=auth)
    assert status in (200, 201), flow
    ids = []
    for _ in range(2):
        status, run = _call(one, "POST", "/flow_runs/", {"flow_id": flow["id"]}, auth=auth)
        assert status in (200, 201), run
        state = {"state": {"type": "COMPLETED"}, "force": True}
        assert _call(other, "POST", f"/flow_runs/{run['id']}/set_state", state, auth=auth)[0] in (200, 201)
        ids.append(run["id"])
    old, recent = ids
    postgres.execute(
        f"UPDATE flow_run SET end_time = now() - interval '10 years' WHERE id = '{old}'", "prefect"
    )

    def gone() -> bool:
        return _call(other, "GET", f"/flow_runs/{old}", None, auth=auth)[0] == 404

    _wait(gone, timeout=60, what="the vacuum deleting a flow run that ended 10 years ago")
    assert _call(one, "GET", f"/flow_runs/{recent}", None, auth=auth)[0] == 200


def test_a_cancellation_that_times_out_gets_its_ecs_task_stopped_by_the_worker(
    prefect_run: PrefectRun,
) -> None:
    """The services task enqueues the cleanup (cancellation_cleanup), an API replica delivers it over the
    worker's channel (whichever replica the worker's connection landed on), the worker calls StopTask."""
    variables = prefect_run.job_variables()
    submitted = prefect_run.prefect_client(
        "submit", prefect_run.config.prefect.work_pool, json.dumps(variables)
    )
    run_id = submitted["flow_run_id"]
    one, other = _alternating(prefect_run)
    auth = prefect_run.auth_string

    def infrastructure() -> str | None:
        status, run = _call(one, "GET", f"/flow_runs/{run_id}", None, auth=auth)
        assert status == 200, run
        return run.get("infrastructure_pid") or None

    identifier = _wait(infrastructure, timeout=90, what="the worker recording the flow run's ECS task")
    cluster, _, task_arn = identifier.partition("::")
    for state, base in (("RUNNING", other), ("CANCELLING", one)):
        body = {"state": {"type": state}, "force": True}
        status, result = _call(base, "POST", f"/flow_runs/{run_id}/set_state", body, auth=auth)
        assert status in (200, 201) and result["status"] == "ACCEPT", result
    ecs = prefect_run.aws("ecs")

    def stopped() -> dict[str, Any] | None:
        [task] = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
        return task if task["desiredStatus"] == "STOPPED" else None

    task = _wait(stopped, timeout=120, what="the worker stopping the ECS task of a run stuck in CANCELLING")
    assert task["lastStatus"] == "STOPPED", task


def test_losing_redis_fails_requests_clearly_and_the_platform_recovers(prefect_run: PrefectRun) -> None:
    redis = prefect_run.platform.redis
    if prefect_run.profile == "lean":
        assert redis is None
        return
    assert redis is not None
    auth = prefect_run.auth_string
    one, other = _alternating(prefect_run)
    status, flow = _call(one, "POST", "/flows/", {"name": f"redis-{uuid.uuid4().hex[:8]}"}, auth=auth)
    assert status in (200, 201), flow
    redis.stop()
    try:
        status, body = _call(one, "POST", "/flow_runs/", {"flow_id": flow["id"]}, auth=auth, timeout=60)
        assert status >= 500, f"a state change without Redis answered {status}: {body}"
        # The client sees Prefect's generic 500; the replica's log (CloudWatch on AWS) names the cause.
        log = prefect_run.containers["api"].log()
        assert f"redis.exceptions.ConnectionError: Error 111 connecting to {redis.host}:{redis.port}" in log

        assert _call(other, "GET", "/health", None, auth=auth)[0] == 200, "the API itself went down"
    finally:
        redis.start()

    def recovered() -> bool:
        status, _ = _call(other, "POST", "/flow_runs/", {"flow_id": flow["id"]}, auth=auth, timeout=30)
        return status in (200, 201)

    _wait(recovered, timeout=120, what="state changes succeeding once Redis is back")
    for name, container in prefect_run.containers.items():
        assert container.running(), f"{name} exited when Redis went away: {container.log()[-1500:]}"


def test_sigterm_stops_every_container_within_its_stop_timeout(prefect_run: PrefectRun) -> None:
    for _task, name in reversed(prefect_run.order):
        definition = prefect_run.definition(name)
        took = prefect_run.containers[name].stop(timeout=float(definition.stop_timeout))
        assert took is not None, f"{name} ignored SIGTERM for {definition.stop_timeout} s and was killed"
        assert prefect_run.containers[name].process.returncode is not None
