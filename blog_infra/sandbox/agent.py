"""The ECS data plane for the emulator's tasks: what ECS's agent does on Fargate, on this machine.

`EcsAgent` attaches to one cluster of the local emulator (`emulator.ecs`: from then on RunTask's tasks
wait PROVISIONING for it), and every `poll` seconds:

- starts each new task: it reads the task definition the task names (DescribeTaskDefinition, so
  what runs is what was registered, not a definition of ours), applies the task's overrides (the
  container's command and environment, `taskRoleArn`, `executionRoleArn`), retrieves each `secrets`
  entry from the emulator's Secrets Manager with the execution role's session as ECS's agent does (the
  JSON key of `<arn>:<key>::`), serves the task role's session to the container
  (`blog_infra.sandbox.credentials`; none without a task role), and starts the container through the
  sandbox with the image's model, its user, read-only root and tmpfs; then reports RUNNING;
- reports STOPPED with the container's exit code when it exits (`EssentialContainerExited`);
- stops a task whose desired status became STOPPED (StopTask) as ECS does: SIGTERM, SIGKILL after
  the container's `stopTimeout` (30 s by default), then STOPPED with the exit code;
- records what it started (`tasks/task-<id>.json`: the argv, environment names, user, root and
  mounts, the task's roles, without values);
- copies a stopped container's output to its `awslogs` log group and stream
  (`<prefix>/<container>/<task id>`), as the awslogs driver would have, with the execution role's
  session ("The task execution role grants the Amazon ECS container and Fargate agents permission to
  ... send container logs to CloudWatch Logs using the awslogs log driver": Amazon ECS Developer
  Guide, "Amazon ECS task execution IAM role").

A task that cannot start stops as ECS stops it, `TaskFailedToStart` with ECS's reason: an image
the sandbox has no model of (`CannotPullContainerError`), a secret or JSON key that cannot be
retrieved (`ResourceInitializationError`), a task or execution role whose trust policy does not let
`ecs-tasks.amazonaws.com` assume it (`platform.unable_to_assume`, ECS's message; under the emulator's
IAM enforcement `enforce` only).

Stand-ins: the agent's own calls (ListTasks, DescribeTasks, its reports) use the emulator's keys;
the task shares this machine's network (the names its environment uses lead to 127.0.0.1), and an
exit by signal is reported as 128 + the signal number, as Docker reports it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blog_infra.sandbox import images
from blog_infra.sandbox.container import Container as Started
from blog_infra.sandbox.credentials import CredentialsError, RoleRefused
from blog_infra.sandbox.ecs_secrets import retrieve
from blog_infra.sandbox.platform import SandboxPlatform, unable_to_assume
from blog_infra.sandbox.taskdef import Container, api_containers

AGENT_PATH = "/_emulator/ecs/agent"
TASK_STATE_PATH = "/_emulator/ecs/task-state"
DEFAULT_STOP_TIMEOUT = 30
"""ECS's default `stopTimeout` for Fargate (seconds between SIGTERM and SIGKILL)."""


class AgentError(Exception):
    """The emulator refused the agent; the message says why."""


@dataclass
class RunningTask:
    arn: str
    definition: Container
    container: Started
    log_options: Mapping[str, str]
    role_environment: Mapping[str, str] = field(default_factory=dict)
    execution_role: str | None = None
    stopping: bool = False


@dataclass
class EcsAgent:
    platform: SandboxPlatform
    cluster_arn: str
    models: Mapping[str, images.ImageModel] = field(default_factory=dict)
    """Image reference -> its model, for images the platform's own models do not cover (flow runs)."""
    directories: Mapping[str, Path] = field(default_factory=dict)
    """Container path -> directory on this machine, bound read-only into every task (flow code)."""
    poll: float = 1.0
    log: Callable[[str], None] = print
    running: dict[str, RunningTask] = field(default_factory=dict)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Task ARN -> the emulator's answer to its STOPPED report."""

    def __post_init__(self) -> None:
        emulator = self.platform.emulator
        if emulator is None:
            raise AgentError("the sandbox platform has no emulator to take tasks from")
        self.endpoint = emulator.endpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        import boto3

        emulator = self.platform.emulator
        assert emulator is not None
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint,
            region_name=self.platform.region,
            aws_access_key_id=emulator.access_key_id,
            aws_secret_access_key=emulator.secret_access_key,
        )

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.endpoint + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            refusal = error.read()
            try:
                message = json.loads(refusal or b"{}").get("error", str(error))
            except ValueError:
                message = (
                    f"the emulator at {self.endpoint} does not answer {path} (HTTP {error.code}): it was "
                    "started by an older blog-infra; run 'make down' and 'make up'"
                )
            raise AgentError(message) from None

    def start(self) -> EcsAgent:
        self._post(AGENT_PATH, {"cluster": self.cluster_arn})
        self._thread = threading.Thread(target=self._loop, name="ecs-agent", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop polling and stop every task still running (as ECS would when the host goes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for task in list(self.running.values()):
            task.container.kill()
            with contextlib.suppress(AgentError, OSError):
                self._stopped(task, stop_code="ServiceSchedulerInitiated", reason="The sandbox stopped")

    def __enter__(self) -> EcsAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        ecs = self._client("ecs")
        while not self._stop.is_set():
            try:
                self._tick(ecs)
            except Exception as exc:  # keep serving the other tasks; the log says what failed
                self.log(f"ecs agent: {type(exc).__name__}: {exc}")
            self._stop.wait(self.poll)

    def _tick(self, ecs: Any) -> None:
        arns: list[str] = []
        for desired in ("RUNNING", "STOPPED"):
            for page in ecs.get_paginator("list_tasks").paginate(
                cluster=self.cluster_arn, desiredStatus=desired
            ):
                arns += page["taskArns"]
        pending = [arn for arn in arns if arn not in self.finished]
        for batch in range(0, len(pending), 100):
            described = ecs.describe_tasks(cluster=self.cluster_arn, tasks=pending[batch : batch + 100])
            for task in described["tasks"]:
                self._advance(ecs, task)
        for task in list(self.running.values()):
            if not task.container.running() and not task.stopping:
                self._stopped(
                    task, stop_code="EssentialContainerExited", reason="Essential container in task exited"
                )

    def _advance(self, ecs: Any, task: Mapping[str, Any]) -> None:
        arn = task["taskArn"]
        if task["lastStatus"] == "STOPPED":
            self.finished.setdefault(arn, dict(task))
            return
        running = self.running.get(arn)
        if running is None and task["lastStatus"] == "PROVISIONING":
            if task["desiredStatus"] == "STOPPED":
                self._report(
                    arn, "STOPPED", stopCode="UserInitiated", stoppedReason=task.get("stoppedReason")
                )
                return
            self._start_task(ecs, task)
        elif running is not None and task["desiredStatus"] == "STOPPED" and not running.stopping:
            running.stopping = True
            threading.Thread(target=self._stop_task, args=(running, task), daemon=True).start()

    def _start_task(self, ecs: Any, task: Mapping[str, Any]) -> None:
        arn = task["taskArn"]
        definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
        found = api_containers(definition)
        if len(found) != 1:
            self._failed(
                arn, f"the sandbox runs tasks of one container; {definition['family']} has {len(found)}"
            )
            return
        [container] = found
        task_overrides = task.get("overrides") or {}
        overrides = {item["name"]: item for item in task_overrides.get("containerOverrides", [])}.get(
            container.name, {}
        )
        task_role = task_overrides.get("taskRoleArn") or definition.get("taskRoleArn")
        execution_role = task_overrides.get("executionRoleArn") or definition.get("executionRoleArn")
        try:
            model = self.models.get(container.image) or images.model(container.image)
        except images.UnknownImage as exc:
            self._failed(arn, f"CannotPullContainerError: {exc}")
            return
        role = execution_role
        try:
            secrets = {}
            if container.secrets:
                client = self.platform.execution_client(execution_role, arn, "secretsmanager")
                secrets = retrieve(container.secrets, client)
            role = task_role
            role_environment = self.platform.role_environment(task_role, arn)
        except RoleRefused:
            self._failed(arn, unable_to_assume(str(role)))
            return
        except CredentialsError as exc:
            self._failed(arn, f"ResourceInitializationError: {exc}")
            return
        except LookupError as exc:
            self._failed(arn, f"ResourceInitializationError: unable to pull secrets or registry auth: {exc}")
            return
        environment = {item["name"]: item["value"] for item in overrides.get("environment", [])}
        task_id = arn.rsplit("/", 1)[1]
        spec = self.platform.container_spec(
            container,
            name=f"task-{task_id}",
            secrets=secrets,
            model=model,
            command=tuple(overrides["command"]) if overrides.get("command") else None,
            environment_overrides=environment,
            directories=self.directories,
            role_environment=role_environment,
        )
        from blog_infra.sandbox import container as sandbox_container

        workdir = self.platform.workdir / "tasks"
        started = sandbox_container.start(spec, workdir=workdir)
        (workdir / f"task-{task_id}.json").write_text(
            json.dumps(
                {
                    "taskArn": arn,
                    "taskDefinitionArn": task["taskDefinitionArn"],
                    "image": container.image,
                    "argv": list(spec.argv),
                    "environment": sorted(spec.environment),
                    "user": list(spec.user),
                    "readOnlyRoot": spec.read_only_root,
                    "tmpfs": [mount.path for mount in spec.tmpfs],
                    "directories": sorted(spec.directories),
                    "taskRoleArn": task_role,
                    "executionRoleArn": execution_role,
                    "pid": started.pid,
                },
                indent=2,
            )
        )
        log_configuration = definition["containerDefinitions"][0].get("logConfiguration") or {}
        options = (
            log_configuration.get("options", {}) if log_configuration.get("logDriver") == "awslogs" else {}
        )
        self.running[arn] = RunningTask(
            arn=arn,
            definition=container,
            container=started,
            log_options=options,
            role_environment=role_environment,
            execution_role=execution_role,
        )
        self._report(arn, "RUNNING")
        self.log(f"ecs agent: started {task_id} ({container.image}), log {started.log_path}")

    def _stop_task(self, task: RunningTask, described: Mapping[str, Any]) -> None:
        timeout = task.definition.stop_timeout or DEFAULT_STOP_TIMEOUT
        task.container.stop(timeout)
        self._stopped(
            task, stop_code="UserInitiated", reason=described.get("stoppedReason") or "Task stopped by user"
        )

    def _stopped(self, task: RunningTask, *, stop_code: str, reason: str) -> None:
        with self._lock:
            if task.arn not in self.running:
                return
            del self.running[task.arn]
        if self.platform.credentials is not None:
            self.platform.credentials.revoke(task.role_environment)
        code = task.container.process.wait()
        exit_code = code if code >= 0 else 128 - code
        self._copy_logs(task)
        self.finished[task.arn] = self._report(
            task.arn,
            "STOPPED",
            containers=[{"name": task.definition.name, "exitCode": exit_code}],
            stopCode=stop_code,
            stoppedReason=reason,
        )
        self.log(f"ecs agent: {task.arn.rsplit('/', 1)[1]} stopped, exit code {exit_code}")

    def _failed(self, arn: str, reason: str) -> None:
        self.finished[arn] = self._report(arn, "STOPPED", stopCode="TaskFailedToStart", stoppedReason=reason)
        self.log(f"ecs agent: {arn.rsplit('/', 1)[1]} failed to start: {reason}")

    def _report(self, arn: str, status: str, **fields: Any) -> dict[str, Any]:
        body = {"cluster": self.cluster_arn, "task": arn, "lastStatus": status}
        body |= {key: value for key, value in fields.items() if value is not None}
        return self._post(TASK_STATE_PATH, body)

    def _copy_logs(self, task: RunningTask) -> None:
        from botocore.exceptions import ClientError

        group = task.log_options.get("awslogs-group")
        if not group:
            return
        prefix = task.log_options.get("awslogs-stream-prefix")
        task_id = task.arn.rsplit("/", 1)[1]
        stream = f"{prefix}/{task.definition.name}/{task_id}" if prefix else task_id
        lines = [line for line in task.container.log().splitlines() if line.strip()]
        if not lines:
            return
        try:
            logs = self.platform.execution_client(task.execution_role, task.arn, "logs")
        except (LookupError, CredentialsError) as exc:
            self.log(f"ecs agent: {task_id}: output not copied to {group}: {exc}")
            return
        try:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            now = int(time.time() * 1000)
            for start in range(0, len(lines), 1000):
                logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": now, "message": line} for line in lines[start : start + 1000]],
                )
        except ClientError as exc:  # refused by IAM, say: the task still stops and says so in the log
            self.log(f"ecs agent: {task_id}: output not copied to {group}: {exc}")
