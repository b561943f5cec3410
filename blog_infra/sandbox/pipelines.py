"""The local pipelines platform: the real Prefect of the deployed local stack, and flow runs that run.

`start(...)` launches, detached in its own session, `python -m blog_infra.sandbox.pipelines SETTINGS`,
which:

1. reads the stack the emulator holds (`make up` deployed it): its template as deployed, the
   physical ids of its resources and its outputs;
2. starts the sandbox of that template (`SandboxPlatform`) with the stack's own secrets, read from
   and written back to the emulator's Secrets Manager (containers' `secrets` read with their task
   execution role, each container given its task role's credentials through the sandbox's
   credentials endpoint): a TLS-only PostgreSQL under the Aurora
   endpoint's name, the Redis of the template, the Aurora bootstrap's own code creating the
   databases and logins (so the `pipelines` login that flow runs read is the one the platform made);
3. starts every Prefect container of the stack's services from its task definition, as ECS would,
   and waits for each health check (the worker creates the work pool with prefect-aws's default
   template, as on AWS: deployments carry the published job variables);
4. attaches the ECS agent (`agent.EcsAgent`) to the stack's cluster, so the tasks the Prefect worker
   starts with RunTask really run; flow-run images are modeled from a requirements file, and flow
   code directories are bound read-only where the deployment's pull step looks for them;
5. writes `pipelines.json` (state `ready`, the API URL, the work pool) and serves until SIGTERM,
   then stops every container and server it started.

The one change to the task definitions' configuration: the UI is served at `http://127.0.0.1:4200`
instead of behind CloudFront, so `PREFECT_UI_URL` and `PREFECT_UI_API_URL` name that address.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

API_PORT = 4200
API_URL = f"http://127.0.0.1:{API_PORT}/api"
UI_URL = f"http://127.0.0.1:{API_PORT}"
UI_OVERRIDES = {"PREFECT_UI_URL": UI_URL, "PREFECT_UI_API_URL": API_URL}
"""The only changes to the deployed configuration: where the UI and its API are reached locally."""
STATE_FILE = "pipelines.json"
SETTINGS_FILE = "settings.json"
LOG_FILE = "pipelines.log"
READY_TIMEOUT_S = 900.0
"""First start on a fresh machine installs Prefect's runtime and each flow image's (minutes)."""
STOP_TIMEOUT_S = 60.0


class PipelinesError(Exception):
    """The local pipelines platform could not start or stop; the message says what to do."""


@dataclass(frozen=True)
class Settings:
    env: str
    state_dir: str
    images: dict[str, str] = field(default_factory=dict)
    """Flow-run image reference -> the requirements file it is modeled from."""
    directories: dict[str, str] = field(default_factory=dict)
    """Container path -> directory on this machine, bound read-only into flow runs."""


@dataclass(frozen=True)
class Status:
    running: bool
    state: str
    """`stopped`, `starting`, `ready` or `failed`."""
    pid: int | None
    message: str
    details: Mapping[str, Any]
    log_path: Path


def workdir_for(state_dir: Path) -> Path:
    """Where the servers and containers keep their files: world-traversable and outside /tmp (each
    container mounts its own /tmp), one per state directory."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return Path("/var/tmp/blog-infra-pipelines") / digest


def _alive(pid: int) -> bool:
    from emulator.control import alive

    return alive(pid)


def status(state_dir: Path) -> Status:
    log_path = state_dir / LOG_FILE
    try:
        recorded = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return Status(False, "stopped", None, "not running", {}, log_path)
    pid = recorded.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        state = recorded.get("state", "stopped")
        message = recorded.get("message", "") if state == "failed" else "not running"
        return Status(False, "failed" if state == "failed" else "stopped", None, message, {}, log_path)
    return Status(
        True,
        recorded.get("state", "starting"),
        pid,
        recorded.get("message", ""),
        recorded.get("details", {}),
        log_path,
    )


def start(settings: Settings, *, timeout: float = READY_TIMEOUT_S) -> Status:
    """Start the platform unless it runs already; wait until it is ready or has failed."""
    state_dir = Path(settings.state_dir)
    current = status(state_dir)
    if current.running:
        return _wait(state_dir, timeout)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    settings_path = state_dir / SETTINGS_FILE
    settings_path.write_text(json.dumps(asdict(settings)))
    repo_root = Path(__file__).resolve().parents[2]
    with open(state_dir / LOG_FILE, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "blog_infra.sandbox.pipelines", str(settings_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=repo_root,
        )
    return _wait(state_dir, timeout)


def _wait(state_dir: Path, timeout: float) -> Status:
    deadline = time.monotonic() + timeout
    began = time.monotonic()
    while time.monotonic() < deadline:
        current = status(state_dir)
        if current.state in ("ready", "failed"):
            return current
        if not current.running and time.monotonic() - began > 10:
            return current
        time.sleep(1.0)
    raise PipelinesError(
        f"the local pipelines platform was not ready within {timeout:.0f} s; see {state_dir / LOG_FILE}"
    )


def stop(state_dir: Path) -> bool:
    """Stop the platform and everything it started; whether it was running."""
    current = status(state_dir)
    if not current.running or current.pid is None:
        return False
    os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _alive(current.pid):
        time.sleep(0.5)
    if _alive(current.pid):
        os.killpg(current.pid, signal.SIGKILL)
        raise PipelinesError(
            f"the local pipelines platform (pid {current.pid}) did not stop within {STOP_TIMEOUT_S:.0f} s "
            "and was killed; its containers may remain"
        )
    return True


# --- The serving process -----------------------------------------------------------------------


def _write_state(
    state_dir: Path, state: str, message: str = "", details: Mapping[str, Any] | None = None
) -> None:
    path = state_dir / STATE_FILE
    staged = path.with_suffix(".tmp")
    staged.write_text(
        json.dumps({"pid": os.getpid(), "state": state, "message": message, "details": dict(details or {})})
    )
    staged.replace(path)


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _stop_requested(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _deployed_secrets(client: Any, arns: list[str]) -> Any:
    """The stack's secrets in the emulator's Secrets Manager as a `SecretStore`: each secret's current
    value, and `put_secret_value` (the Aurora bootstrap's) written to the emulator too."""
    from blog_infra.sandbox.ecs_secrets import SecretStore

    class DeployedSecrets(SecretStore):
        def put_secret_value(self, *, SecretId: str, SecretString: str) -> Mapping[str, Any]:
            client.put_secret_value(SecretId=SecretId, SecretString=SecretString)
            return super().put_secret_value(SecretId=SecretId, SecretString=SecretString)

    return DeployedSecrets({arn: client.get_secret_value(SecretId=arn)["SecretString"] for arn in arns})


def deployed_overrides(
    template: Mapping[str, Any], physical: Mapping[str, str], outputs: Mapping[str, str]
) -> dict[str, str]:
    """Resolver overrides that make the template's references name the deployed resources: each
    resource's physical id for `Ref`, the queue names and the database endpoint for `Fn::GetAtt`."""
    overrides = dict(physical)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::SQS::Queue" and logical_id in physical:
            overrides[f"{logical_id}.QueueName"] = physical[logical_id].rsplit("/", 1)[1]
        if resource["Type"] == "AWS::RDS::DBCluster" and "DatabaseEndpoint" in outputs:
            overrides[f"{logical_id}.Endpoint.Address"] = outputs["DatabaseEndpoint"]
    return overrides


def serve(settings: Settings) -> None:
    from blog_infra import stacks
    from blog_infra.sandbox import images, runtime
    from blog_infra.sandbox.agent import EcsAgent
    from blog_infra.sandbox.platform import Emulator, SandboxPlatform, start_services
    from blog_infra.sandbox.taskdef import Resolver
    from blog_infra.sandbox.tls import CertificateAuthority
    from blog_infra.target import resolve
    from infra.config import load_config

    state_dir = Path(settings.state_dir)
    config = load_config(settings.env)
    target = resolve(config)
    if not target.endpoint:
        raise PipelinesError(f"--env {settings.env} is not the local emulator")
    template = stacks.deployed_template(target, config.stack_name)
    if template is None:
        raise PipelinesError(
            f"stack {config.stack_name} is not deployed on the emulator; run 'make up' first"
        )
    cloudformation = target.client("cloudformation")
    physical = {
        item["LogicalResourceId"]: item["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=config.stack_name)
        for item in page["StackResourceSummaries"]
    }
    outputs = {output.key: output.value for output in stacks.outputs(target, config.stack_name)}
    overrides = deployed_overrides(template, physical, outputs)
    secret_arns = [
        Resolver(template, account=config.account_id, region=config.region, overrides=overrides).ref(
            logical_id
        )
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    ]
    secrets = _deployed_secrets(target.client("secretsmanager"), secret_arns)
    models = {
        reference: images.from_requirements(reference, Path(requirements))
        for reference, requirements in settings.images.items()
    }
    workdir = workdir_for(state_dir)
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for directory in (workdir, workdir.parent):
        directory.chmod(0o755)
    emulator = Emulator(
        endpoint=target.endpoint,
        access_key_id=target.env["AWS_ACCESS_KEY_ID"],
        secret_access_key=target.env["AWS_SECRET_ACCESS_KEY"],
    )
    job_variables = json.loads(outputs["PipelinesWorkPoolJobVariables"])
    began = time.monotonic()
    _say(f"starting the sandbox of {config.stack_name} in {workdir}")
    with SandboxPlatform(
        template,
        account=config.account_id,
        region=config.region,
        workdir=workdir,
        ca=CertificateAuthority(workdir / "ca"),
        emulator=emulator,
        overrides=overrides,
        secrets=secrets,
        secrets_in_emulator=True,
    ) as platform:
        services = start_services(platform, environment_overrides=UI_OVERRIDES)
        for name, seconds in services.healthy_after.items():
            _say(f"{name} healthy after {seconds:.1f} s")
        pool = outputs["PipelinesWorkPool"]
        for reference, model in models.items():
            installed = runtime.ensure(model)
            _say(f"flow-run image {reference}: {' '.join(model.packages)} in {installed.root}")
        with EcsAgent(
            platform,
            cluster_arn=job_variables["cluster"],
            models=models,
            directories={target_path: Path(source) for target_path, source in settings.directories.items()},
            log=_say,
        ):
            details = {
                "api_url": API_URL,
                "ui_url": UI_URL,
                "work_pool": pool,
                "auth_secret_arn": outputs.get("PipelinesAuthSecret", ""),
                "emulator": target.endpoint,
                "containers": sorted(services.containers),
                "images": dict(settings.images),
                "directories": dict(settings.directories),
                "ready_after_s": round(time.monotonic() - began, 1),
                "workdir": str(workdir),
                "ca_bundle": str(platform.ca.bundle),
            }
            _write_state(state_dir, "ready", "", details)
            _say(f"ready after {details['ready_after_s']} s: {UI_URL}")
            while True:
                exited = [name for name, container in services.containers.items() if not container.running()]
                if exited:
                    names = ", ".join(exited)
                    _write_state(
                        state_dir, "failed", f"{names} exited; see {workdir / 'containers'}", details
                    )
                    _say(f"{names} exited")
                    return
                time.sleep(2.0)


def main(argv: list[str]) -> int:
    settings = Settings(**json.loads(Path(argv[0]).read_text()))
    state_dir = Path(settings.state_dir)
    signal.signal(signal.SIGTERM, _stop_requested)
    signal.signal(signal.SIGINT, _stop_requested)
    _write_state(state_dir, "starting")
    try:
        serve(settings)
    except SystemExit:
        # Every container and server has stopped (serve's context managers); a stopped platform
        # leaves none of its files behind (a failed one keeps them, with its logs).
        import shutil

        shutil.rmtree(workdir_for(state_dir), ignore_errors=True)
        _say("stopped")
        _write_state(state_dir, "stopped", "stopped")
        return 0
    except Exception as exc:
        _say(f"failed: {type(exc).__name__}: {exc}")
        _write_state(state_dir, "failed", f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
