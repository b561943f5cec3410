"""Fixes to moto's ECS on the path a Prefect ECS worker takes.

moto's `RunTask` adds up the containers' `memory` to place a task and fails with a TypeError (an
HTTP 500) when a container has none. Fargate task definitions carry memory at the task level, and a
container may then omit it (ECS: "for tasks hosted on Fargate, the memory parameter of a container
is optional"); prefect-aws registers exactly such task definitions. The replacement counts such a
container as 0, which changes nothing for task definitions moto already handled.
"""

from __future__ import annotations

from typing import Any

from moto.ecs import models as ecs_models

_original = ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements


def _calculate_task_resource_requirements(task_definition: Any) -> dict[str, Any]:
    definitions = task_definition.container_definitions
    patched = []
    for definition in definitions:
        keys = ("Memory", "MemoryReservation", "memory", "memoryReservation")
        if not any(definition.get(key) is not None for key in keys):
            definition = {**definition, "memory": 0}
        patched.append(definition)
    task_definition.container_definitions = patched
    try:
        result: dict[str, Any] = _original(task_definition)
    finally:
        task_definition.container_definitions = definitions
    return result


# --- Tasks run by an agent outside the emulator --------------------------------------------------
#
# moto runs no container: a task is RUNNING from RunTask on, each DescribeTasks moves it one step
# further (RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED: its `ecs::task` state manager),
# and StopTask stops it at once with every container's exit code 0. A cluster to which an agent is
# attached (`attach_agent`) behaves as ECS's data plane reports instead: RunTask's tasks are
# PROVISIONING with PENDING containers and no exit code; only the agent moves them on
# (`report_task_state`); StopTask sets the desired status and leaves the task to the agent, which
# signals its containers and reports STOPPED with their exit codes. Every change of such a task is
# sent to EventBridge as the "ECS Task State Change" event ECS sends (source `aws.ecs`, the task's
# description as the detail), so rules route it as on AWS.
#
# Sources for the shapes: the ECS developer guide's "Amazon ECS task state change events" (the detail
# is the DescribeTasks task: clusterArn, taskArn, taskDefinitionArn, group, lastStatus,
# desiredStatus, containers with exitCode and reason, stopCode, stoppedReason, createdAt, startedAt,
# stoppedAt, overrides, version) and "Amazon ECS stopped task error codes" (stopCode values).

AGENT_PATH = "/_emulator/ecs/agent"
TASK_STATE_PATH = "/_emulator/ecs/task-state"
_agent_clusters: set[str] = set()
_LAST_STATUSES = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED")
_STOP_CODES = ("TaskFailedToStart", "EssentialContainerExited", "UserInitiated", "ServiceSchedulerInitiated")


class AgentError(ValueError):
    """A report the agent made that ECS could not be in; the message says what is wrong."""


def attach_agent(cluster_arn: str) -> None:
    """Tasks that RunTask starts on `cluster_arn` from now on wait for an agent to run them."""
    _agent_clusters.add(cluster_arn)


def _backend(cluster_arn: str) -> Any:
    parts = cluster_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("cluster/"):
        raise AgentError(f"{cluster_arn!r} is not a cluster ARN")
    return ecs_models.ecs_backends[parts[4]][parts[3]]


def _find_task(cluster_arn: str, task_arn: str) -> Any:
    backend = _backend(cluster_arn)
    cluster = cluster_arn.rsplit("/", 1)[1]
    wanted = task_arn.rsplit("/", 1)[-1]
    for arn, task in backend.tasks.get(cluster, {}).items():
        if arn.rsplit("/", 1)[-1] == wanted:
            return task
    raise AgentError(f"no task {task_arn} on cluster {cluster_arn}")


def _now() -> Any:
    import datetime

    return datetime.datetime.now(datetime.UTC)


def _detail(task: Any) -> dict[str, Any]:
    def stamp(value: Any) -> str | None:
        return (
            None
            if value is None
            else value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        )

    detail: dict[str, Any] = {
        "clusterArn": task.cluster_arn,
        "taskArn": task.task_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "group": task.group,
        "launchType": task.launch_type or "FARGATE",
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "containers": [
            {
                key: value
                for key, value in {
                    "containerArn": container.container_arn,
                    "name": container.name,
                    "taskArn": task.task_arn,
                    "lastStatus": container.last_status,
                    "exitCode": container.exitCode,
                    "reason": getattr(container, "reason", None),
                }.items()
                if value is not None
            }
            for container in task.containers
        ],
        "overrides": task.overrides or {"containerOverrides": []},
        "createdAt": stamp(getattr(task, "created_at", None)),
        "startedAt": stamp(getattr(task, "started_at", None)),
        "stoppedAt": stamp(getattr(task, "stopped_at", None)),
        "stopCode": getattr(task, "stop_code", None),
        "stoppedReason": task.stopped_reason or None,
        "version": getattr(task, "version", 1),
    }
    return {key: value for key, value in detail.items() if value is not None}


def _send_state_change(task: Any) -> None:
    import json

    from moto.events.models import events_backends

    task.version = getattr(task, "version", 0) + 1
    events_backends[task._account_id][task.region_name].put_events(
        [
            {
                "Source": "aws.ecs",
                "DetailType": "ECS Task State Change",
                "Detail": json.dumps(_detail(task)),
                "Resources": [task.task_arn],
            }
        ]
    )


def _hold(task: Any) -> None:
    """Take `task` out of moto's state manager: its status is what the agent reports, nothing else."""
    task._transitions = []
    task.last_status = "PROVISIONING"
    task.created_at = _now()
    for container in task.containers:
        container.last_status = "PENDING"
        container.exitCode = None
    _send_state_change(task)


def report_task_state(report: dict[str, Any]) -> dict[str, Any]:
    """The agent's report on a task it runs: `lastStatus`, and once STOPPED each container's exit
    code (`containers`: [{name, exitCode, reason}]), `stopCode` and `stoppedReason`."""
    task = _find_task(str(report.get("cluster", "")), str(report.get("task", "")))
    status = report.get("lastStatus")
    if status not in _LAST_STATUSES:
        raise AgentError(f"lastStatus {status!r} is not one of {', '.join(_LAST_STATUSES)}")
    if task.last_status == "STOPPED":
        raise AgentError(f"task {task.task_arn} is STOPPED already")
    stop_code = report.get("stopCode")
    if stop_code is not None and stop_code not in _STOP_CODES:
        raise AgentError(f"stopCode {stop_code!r} is not one of {', '.join(_STOP_CODES)}")
    task.last_status = status
    reported = {item["name"]: item for item in report.get("containers", [])}
    for container in task.containers:
        item = reported.get(container.name, {})
        container.last_status = (
            "STOPPED"
            if status == "STOPPED"
            else ("RUNNING" if status == "RUNNING" else container.last_status)
        )
        if "exitCode" in item:
            container.exitCode = item["exitCode"]
        if item.get("reason"):
            container.reason = item["reason"]
    if status == "RUNNING" and getattr(task, "started_at", None) is None:
        task.started_at = _now()
    if status == "STOPPED":
        task.desired_status = "STOPPED"
        task.stopped_at = _now()
        task.stop_code = stop_code or getattr(task, "stop_code", None) or "EssentialContainerExited"
        if report.get("stoppedReason"):
            task.stopped_reason = str(report["stoppedReason"])
    _send_state_change(task)
    return _detail(task)


def _run_task_response(original: Any) -> Any:
    def run_task(self: Any) -> Any:
        result = original(self)
        for task in result.result["tasks"]:
            if task.cluster_arn in _agent_clusters:
                _hold(task)
        return result

    return run_task


def _stop_task(original: Any) -> Any:
    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        if cluster.arn not in _agent_clusters:
            return original(self, cluster_str, task_str, reason)
        task = _find_task(cluster.arn, task_str)
        if task.desired_status != "STOPPED":
            task.desired_status = "STOPPED"
            task.stopped_reason = reason or "Task stopped by user"
            task.stop_code = "UserInitiated"
            _send_state_change(task)
        return task

    return stop_task


def handle_control(path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The agent's two control calls: attach to a cluster (`AGENT_PATH`, {"cluster": ARN}) and report a
    task's state (`TASK_STATE_PATH`, see `report_task_state`); (HTTP status, JSON answer)."""
    import json

    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise AgentError("the body must be a JSON object")
        if path == AGENT_PATH:
            cluster = str(request.get("cluster", ""))
            _backend(cluster)._get_cluster(cluster.rsplit("/", 1)[-1])
            attach_agent(cluster)
            return 200, {"cluster": cluster}
        return 200, report_task_state(request)
    except (AgentError, ValueError, KeyError) as exc:
        return 400, {"error": str(exc)}
    except Exception as exc:  # moto's own errors (an unknown cluster) carry their message
        return 400, {"error": f"{type(exc).__name__}: {exc}"}


def install() -> None:
    """Replace moto's resource accounting of RunTask, and hold the tasks of agent clusters (idempotent)."""
    from moto.ecs import responses as ecs_responses

    backend = ecs_models.EC2ContainerServiceBackend
    setattr(  # noqa: B010 (replacing a method)
        backend, "_calculate_task_resource_requirements", staticmethod(_calculate_task_resource_requirements)
    )
    if not getattr(backend.stop_task, "_agent_aware", False):
        wrapped = _stop_task(backend.stop_task)
        wrapped._agent_aware = True
        setattr(backend, "stop_task", wrapped)  # noqa: B010
        response = ecs_responses.EC2ContainerServiceResponse
        setattr(response, "run_task", _run_task_response(response.run_task))  # noqa: B010
