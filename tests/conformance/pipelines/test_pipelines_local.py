"""The local pipelines platform runs blog_data's flows as production would: the worker's RunTask
really starts the flow-run container (the ECS agent in blog_infra/sandbox/agent.py), and the run's
state comes from the flow itself or, when the container dies, from the ECS observer reading the
task-state events the emulator sends to its queue. The tests run in file order; the last one stops
the platform and checks that nothing of it is left running.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pg8000.native

from tests.conformance.pipelines.conftest import FLOW_IMAGE, LocalPipelines


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
