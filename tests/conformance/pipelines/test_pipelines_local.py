"""The local pipelines platform runs blog_data's flows as production would: the worker's RunTask
really starts the flow-run container (the ECS agent in blog_infra/sandbox/agent.py), and the run's
state comes from the flow itself or, when the container dies, from the ECS observer reading the
task-state events the emulator sends to its queue. The tests run in file order; the last one stops
the platform and checks that nothing of it is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pg8000.native
import pytest

from blog_infra import iam_audit
from tests.conformance.pipelines.conftest import FLOW_IMAGE, REPO_ROOT, LocalPipelines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_the_example_deployment_runs_to_completed_with_its_outputs_in_s3_and_postgres(
    pipelines: LocalPipelines,
) -> None:
    key = f"example/{uuid.uuid4()}.json"
    raw = pipelines.output("DataBucketsRaw")
    clean = pipelines.output("DataBucketsClean")
    s3 = pipelines.client("s3")
    s3.put_object(
        Bucket=raw, Key=key, Body=json.dumps([{"id": 1, "title": "  Hello "}, {"id": 2, "title": "x"}])
    )
    began = time.monotonic()
    run_id = pipelines.run_deployment("raw-to-clean/raw-to-clean", key=key)
    state = pipelines.wait_for_state(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    pipelines.timings["run created to COMPLETED"] = round(time.monotonic() - began, 1)
    assert state["state_type"] == "COMPLETED", state
    written = json.loads(s3.get_object(Bucket=clean, Key=key)["Body"].read())
    assert written == [{"id": 1, "title": "Hello"}, {"id": 2, "title": "x"}]
    login = json.loads(
        pipelines.client("secretsmanager").get_secret_value(
            SecretId=pipelines.output("DatabaseSecretsPipelines")
        )["SecretString"]
    )
    import ssl

    context = ssl.create_default_context(cafile=pipelines.details["ca_bundle"])
    context.check_hostname = False
    connection = pg8000.native.Connection(
        user=login["username"],
        password=login["password"],
        host="127.0.0.1",
        port=int(login["port"]),
        database=login["dbname"],
        ssl_context=context,
        timeout=10,
    )
    try:
        rows = connection.run("SELECT rows FROM example_runs WHERE key = :key", key=key)
    finally:
        connection.close()
    assert rows == [[2]], rows
    task = pipelines.ecs_task_of(run_id)
    [container] = task["containers"]
    assert (container["exitCode"], task["stopCode"]) == (0, "EssentialContainerExited"), task


def test_the_task_definition_the_worker_registered_is_what_ran(pipelines: LocalPipelines) -> None:
    run_id = pipelines.run_deployment("raw-to-clean/raw-to-clean", key="example/missing.json")
    pipelines.wait_for_state(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    task = pipelines.ecs_task_of(run_id)
    definition = pipelines.client("ecs").describe_task_definition(taskDefinition=task["taskDefinitionArn"])[
        "taskDefinition"
    ]
    assert definition["family"].startswith("prefect_"), definition["family"]
    [registered] = definition["containerDefinitions"]
    started = pipelines.started_record(task["taskArn"])
    assert started["taskDefinitionArn"] == task["taskDefinitionArn"]
    assert started["image"] == registered["image"] == FLOW_IMAGE
    overrides = {item["name"]: item for item in task["overrides"]["containerOverrides"]}.get(
        registered["name"], {}
    )
    command = overrides.get("command") or registered.get("command")
    assert command and started["argv"][-len(command) :] == command, (started["argv"], command)
    names = {item["name"] for item in registered.get("environment", [])}
    names |= {item["name"] for item in overrides.get("environment", [])}
    names |= {item["name"] for item in registered.get("secrets", [])}
    assert names <= set(started["environment"]), sorted(names - set(started["environment"]))
    assert "PREFECT_API_AUTH_STRING" in {item["name"] for item in registered["secrets"]}
    assert started["readOnlyRoot"] == registered.get("readonlyRootFilesystem", False)
    assert started["user"] == ([0, 0] if "user" not in registered else started["user"])
    assert started["directories"] == ["/opt/prefect/pipelines"]


def test_a_flow_that_raises_ends_failed(pipelines: LocalPipelines) -> None:
    run_id = pipelines.run_deployment("always-fails/always-fails")
    state = pipelines.wait_for_state(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    assert state["state_type"] == "FAILED", state
    task = pipelines.ecs_task_of(run_id)
    assert task["lastStatus"] == "STOPPED"


def test_a_container_that_exits_non_zero_ends_crashed_through_the_observer(pipelines: LocalPipelines) -> None:
    """The flow's process and Prefect's process above it are killed (as by the out-of-memory killer), so
    nothing in the container reports; only the ECS observer, reading the STOPPED event the emulator
    sent to its queue, can end the run. A flow that merely exits non-zero is reported Crashed by
    Prefect's own process ("Process exited with status code"), which would prove nothing here."""
    run_id = pipelines.run_deployment("killed/killed")
    state = pipelines.wait_for_state(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    assert state["state_type"] == "CRASHED", state
    assert "non-zero exit code" in (state["message"] or ""), state
    task = pipelines.ecs_task_of(run_id)
    [container] = task["containers"]
    assert container["exitCode"] == 137, task


def _running_sleeper(pipelines: LocalPipelines) -> tuple[str, dict[str, Any], int]:
    run_id = pipelines.run_deployment("sleeps/sleeps", seconds=600)
    pipelines.wait_for_state(run_id, {"RUNNING"})
    task = pipelines.ecs_task_of(run_id, stopped=False)
    pid = int(pipelines.started_record(task["taskArn"])["pid"])
    assert _alive(pid)
    return run_id, task, pid


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not _alive(pid)


def test_cancelling_a_run_stops_its_container(pipelines: LocalPipelines) -> None:
    run_id, _, pid = _running_sleeper(pipelines)
    began = time.monotonic()
    pipelines.prefect("flow-run", "cancel", run_id)
    state = pipelines.wait_for_state(run_id, {"CANCELLED", "COMPLETED", "FAILED", "CRASHED"}, timeout=120)
    assert state["state_type"] == "CANCELLED", state
    stopped = pipelines.ecs_task_of(run_id, timeout=60)
    pipelines.timings["cancel to task STOPPED"] = round(time.monotonic() - began, 1)
    assert _gone(pid, 10), f"the flow-run container (pid {pid}) still runs after its task STOPPED"
    [container] = stopped["containers"]
    assert "exitCode" in container, stopped


def test_stop_task_sends_sigterm_and_the_task_stops_with_its_exit_code(pipelines: LocalPipelines) -> None:
    """StopTask, as the worker's cleanup of a run stuck in CANCELLING calls it: the agent signals the
    container, which exits within its stop timeout, and the task is STOPPED by the user."""
    run_id, task, pid = _running_sleeper(pipelines)
    ecs = pipelines.client("ecs")
    ecs.stop_task(cluster=task["clusterArn"], task=task["taskArn"], reason="stopped by the conformance test")
    [described] = ecs.describe_tasks(cluster=task["clusterArn"], tasks=[task["taskArn"]])["tasks"]
    assert (described["desiredStatus"], described["lastStatus"]) == ("STOPPED", "RUNNING"), described
    assert _gone(pid, 45), f"the flow-run container (pid {pid}) ignored SIGTERM and SIGKILL"
    stopped = pipelines.ecs_task_of(run_id, timeout=30)
    assert stopped["stopCode"] == "UserInitiated", stopped
    assert stopped["stoppedReason"] == "stopped by the conformance test", stopped
    [container] = stopped["containers"]
    assert isinstance(container.get("exitCode"), int), stopped
    state = pipelines.wait_for_state(run_id, {"CANCELLED", "COMPLETED", "FAILED", "CRASHED"}, timeout=60)
    pipelines.timings["StopTask: exit code, final state"] = [container["exitCode"], state["state_type"]]


def test_pipelines_up_again_reports_the_running_platform(pipelines: LocalPipelines) -> None:
    before = json.loads(pipelines.cli("local", "pipelines", "status", "--json").stdout)
    began = time.monotonic()
    again = pipelines.cli("local", "pipelines", "up")
    assert time.monotonic() - began < 30
    after = json.loads(pipelines.cli("local", "pipelines", "status", "--json").stdout)
    assert after["pid"] == before["pid"] and after["state"] == "ready", after
    assert "http://127.0.0.1:4200" in again.stdout


@contextlib.contextmanager
def _without_grant(
    pipelines: LocalPipelines,
    role_prefix: str,
    edit: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> Iterator[str]:
    """The deployed role whose logical id starts with `role_prefix`, with exactly one statement of its
    inline policies changed by `edit` (None drops it) for the duration, put back afterwards; yields the
    role's name. The emulator enforces IAM (the default account shape), so the role's next session
    has only what is left."""
    resources = pipelines.client("cloudformation").list_stack_resources(StackName="blog-local")[
        "StackResourceSummaries"
    ]
    [role] = [
        r["PhysicalResourceId"]
        for r in resources
        if r["ResourceType"] == "AWS::IAM::Role" and r["LogicalResourceId"].startswith(role_prefix)
    ]
    iam = pipelines.client("iam")
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        edited = [edit(statement) for statement in document["Statement"]]
        if sum(new != old for new, old in zip(edited, document["Statement"], strict=True)) == 1:
            break
    else:
        raise AssertionError(f"no single statement of {role} is changed by the edit")
    kept = [statement for statement in edited if statement is not None]
    iam.put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept})
    )
    try:
        yield role
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return actions if isinstance(actions, list) else [actions]


def test_the_worker_without_its_run_task_grant_cannot_submit_a_run(pipelines: LocalPipelines) -> None:
    # GIVEN the worker's task role without the statement that lets it run flow-run tasks on the cluster
    with _without_grant(
        pipelines,
        "RuntimeRolesPrefectWorkerTask",
        lambda s: None if s.get("Sid") == "RunFlowRunsOnTheCluster" else s,
    ) as role:
        # WHEN a run is created THEN the worker's RunTask is refused as ECS refuses it, and the run crashes
        run_id = pipelines.run_deployment("raw-to-clean/raw-to-clean", key="example/missing.json")
        state = pipelines.wait_for_state(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    assert state["state_type"] == "CRASHED", state
    assert "AccessDenied" in state["message"] and "ecs:RunTask" in state["message"], state
    assert f"assumed-role/{role}/" in state["message"], state


def test_a_flow_run_without_its_clean_bucket_grant_fails_writing_there(pipelines: LocalPipelines) -> None:
    # GIVEN the flow-run task role whose read-write statement on the data buckets no longer names the
    # clean bucket (it keeps raw and cached)
    clean = pipelines.output("DataBucketsClean")
    raw = pipelines.output("DataBucketsRaw")
    key = f"example/{uuid.uuid4()}.json"
    pipelines.client("s3").put_object(Bucket=raw, Key=key, Body=json.dumps([{"id": 1, "title": "x"}]))

    def without_clean(statement: dict[str, Any]) -> dict[str, Any]:
        resources = statement.get("Resource")
        if "s3:PutObject" not in _actions(statement) or not isinstance(resources, list):
            return statement
        return {**statement, "Resource": [r for r in resources if f":::{clean}" not in r]}

    with _without_grant(pipelines, "RuntimeRolesFlowRunTask", without_clean) as role:
        # WHEN the example runs
        run_id = pipelines.run_deployment("raw-to-clean/raw-to-clean", key=key)
        state = pipelines.wait_for_state(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    # THEN the flow fails and writes nothing
    assert state["state_type"] == "FAILED", state
    with pytest.raises(pipelines.client("s3").exceptions.NoSuchKey):
        pipelines.client("s3").get_object(Bucket=clean, Key=key)
    # AND that is because S3 refused the write, after it served the read of the raw object
    calls = {
        (d["action"], d["resource"]): d["decision"]
        for d in iam_audit.decisions(pipelines.endpoint)
        if f"assumed-role/{role}/" in d["principal"] and key in d["resource"]
    }
    assert calls.get(("s3:GetObject", f"arn:aws:s3:::{raw}/{key}")) == "allow", calls
    assert calls.get(("s3:PutObject", f"arn:aws:s3:::{clean}/{key}")) == "implicit deny", calls


def test_the_iam_audit_shows_the_grants_the_runs_used_and_those_they_did_not(
    pipelines: LocalPipelines,
) -> None:
    audit = {
        entry["role"]: entry for entry in json.loads(pipelines.cli("local", "iam-audit", "--json").stdout)
    }
    worker = next(entry for role, entry in audit.items() if role.startswith("RuntimeRolesPrefectWorkerTask"))
    flow_run = next(entry for role, entry in audit.items() if role.startswith("RuntimeRolesFlowRunTask"))
    used = {item["statement"].split("#", 1)[1] for item in worker["used"]}
    # The worker registered and ran flow-run tasks and passed their roles, through their own statements
    assert {"RegisterFlowRunTaskDefinitions", "RunFlowRunsOnTheCluster", "PassOnlyFlowRunRoles"} <= used, (
        worker
    )
    # AND the refusal of the bite above is on its record
    assert any(call.startswith("ecs:RunTask on ") for call in worker["refused"]), worker
    # AND the flow runs read the contract through their role
    assert "ReadContractParameters" in {item["statement"].split("#", 1)[1] for item in flow_run["used"]}
    # AND each role statement is either used or unused (calls a resource policy allowed are counted apart)
    for entry in (worker, flow_run):
        used_labels = {item["statement"] for item in entry["used"]}
        unused_labels = {item["statement"] for item in entry["unused"]}
        assert used_labels and not used_labels & unused_labels, entry
        assert len(used_labels) + len(unused_labels) == entry["statements"], entry
        assert all(label.startswith(entry["arn"] + "/") or ":policy/" in label for label in used_labels), (
            entry
        )
    # The whole audit of the module's runs is kept for whoever reviews the grants (reports/ is not
    # committed; CI keeps it with the JUnit reports)
    reports = REPO_ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "iam-audit-pipelines.json").write_text(json.dumps(list(audit.values()), indent=2) + "\n")


def test_zz_down_stops_every_process_the_platform_started(pipelines: LocalPipelines) -> None:
    status = json.loads(pipelines.cli("local", "pipelines", "status", "--json").stdout)
    workdir = status["workdir"]
    ours = [pid for pid in _processes_mentioning(workdir)]
    assert ours, f"no process mentions {workdir}: the check below would prove nothing"
    down = pipelines.cli("local", "down")
    assert "Local pipelines platform stopped." in down.stdout, down.stdout
    assert not _alive(status["pid"])
    left = [pid for pid in _processes_mentioning(workdir) if _alive(pid)]
    assert not left, f"still running after 'local down': {left}"
    assert not Path(workdir).exists(), f"{workdir} is left behind"
    print(f"timings on this machine: {json.dumps(pipelines.timings)}")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(int(entry.name))
    return found
