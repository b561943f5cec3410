"""The local pipelines platform as a blog_data engineer gets it: `blog-infra local up`, then
`blog-infra local pipelines up`, then the example project deployed with the Prefect CLI
(docs/pipelines-local.md), all against an emulator and a state directory of the tests' own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from blog_infra.sandbox import images, prefect_client, runtime
from emulator import control

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "examples" / "pipelines"
FLOW_IMAGE = "blog-data-flows:local"


@dataclass
class LocalPipelines:
    state_dir: Path
    endpoint: str
    details: dict[str, Any]
    prefect_env: dict[str, str]
    timings: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "blog_infra.cli", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "BLOG_INFRA_STATE_DIR": str(self.state_dir)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"blog-infra {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    @property
    def flow_runtime(self) -> runtime.Runtime:
        return runtime.ensure(images.from_requirements(FLOW_IMAGE, EXAMPLE / "requirements.txt"))

    def prefect(self, *args: str, timeout: float = 120) -> str:
        """The Prefect CLI (3.9.1, the flow image's) in the example project, pointed at the platform."""
        result = subprocess.run(
            [str(self.flow_runtime.bin / "prefect"), *args],
            cwd=EXAMPLE,
            env=self.prefect_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"prefect {' '.join(args)}: {result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
        return result.stdout

    def run_deployment(self, name: str, **parameters: Any) -> str:
        """Create a flow run of the deployment `name`; its id."""
        arguments = [f"--param={key}={value}" for key, value in parameters.items()]
        output = self.prefect("deployment", "run", name, *arguments)
        match = re.search(r"UUID: ([0-9a-f-]{36})", output)
        assert match, output
        return match.group(1)

    def flow_run(self, run_id: str) -> dict[str, Any]:
        result = subprocess.run(
            [str(self.flow_runtime.bin / "python"), "-I", prefect_client.__file__, "flow-run", run_id],
            env=self.prefect_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return loaded

    def wait_for_state(self, run_id: str, states: set[str], *, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = self.flow_run(run_id)
            if seen["state_type"] in states:
                return seen
            time.sleep(1.0)
        raise AssertionError(
            f"flow run {run_id} did not reach {sorted(states)} within {timeout:.0f} s: {seen}"
        )

    def ecs_task_of(self, run_id: str, *, stopped: bool = True, timeout: float = 120) -> dict[str, Any]:
        """The ECS task the worker started for `run_id` (by its `prefect.io/flow-run-id` tag)."""
        ecs = self.client("ecs")
        cluster = json.loads(self.output("PipelinesWorkPoolJobVariables"))["cluster"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arns = [
                arn
                for desired in ("RUNNING", "STOPPED")
                for arn in ecs.list_tasks(cluster=cluster, desiredStatus=desired)["taskArns"]
            ]
            if arns:
                for task in ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])["tasks"]:
                    tags = {tag["key"]: tag["value"] for tag in task.get("tags", [])}
                    if tags.get("prefect.io/flow-run-id") == run_id and (
                        not stopped or task["lastStatus"] == "STOPPED"
                    ):
                        found: dict[str, Any] = task
                        return found
            time.sleep(1.0)
        raise AssertionError(
            f"no {'stopped ' if stopped else ''}ECS task for flow run {run_id} within {timeout:.0f} s"
        )

    def output(self, key: str) -> str:
        stack = self.client("cloudformation").describe_stacks(StackName="blog-local")["Stacks"][0]
        return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == key)

    def started_record(self, task_arn: str) -> dict[str, Any]:
        """What the ECS agent started for `task_arn` (blog_infra/sandbox/agent.py)."""
        path = Path(self.details["workdir"]) / "tasks" / f"task-{task_arn.rsplit('/', 1)[1]}.json"
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded


def _timed(
    timings: dict[str, float], name: str, platform: LocalPipelines, *args: str
) -> subprocess.CompletedProcess[str]:
    began = time.monotonic()
    result = platform.cli(*args)
    timings[name] = round(time.monotonic() - began, 1)
    return result


@pytest.fixture(scope="module")
def pipelines(sandbox_dir: Path) -> Iterator[LocalPipelines]:
    state_dir = sandbox_dir / "pipelines-state"
    state_dir.mkdir()
    platform = LocalPipelines(state_dir=state_dir, endpoint="", details={}, prefect_env={})
    timings: dict[str, float] = {}
    try:
        _timed(timings, "local up", platform, "local", "up")
        _timed(timings, "local pipelines up", platform, "local", "pipelines", "up")
        status = control.status(state_dir / "emulator")
        assert status.endpoint
        platform.endpoint = status.endpoint
        platform.details = json.loads(platform.cli("local", "pipelines", "status", "--json").stdout)
        exports = dict(
            re.findall(r"^export (\w+)=(.*)$", platform.cli("local", "pipelines", "env").stdout, re.MULTILINE)
        )
        home = sandbox_dir / "prefect-home"
        home.mkdir(exist_ok=True)
        platform.prefect_env = {
            "PATH": f"{platform.flow_runtime.bin}:/usr/bin:/bin",
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": exports["PREFECT_API_URL"].strip("'"),
            "PREFECT_API_AUTH_STRING": exports["PREFECT_API_AUTH_STRING"].strip("'"),
        }
        platform.timings = timings
        began = time.monotonic()
        platform.prefect("--no-prompt", "deploy", "--all")
        timings["prefect deploy --all"] = round(time.monotonic() - began, 1)
        yield platform
    finally:
        platform.cli("local", "down", check=False)
        control.stop(state_dir / "emulator")
