"""The embedded local AWS: start it, deploy the local platform on it, stop it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from blog_infra import iam_audit, images, operations, paths, render, stacks
from blog_infra.errors import BadInput, CliError, Unavailable
from blog_infra.options import config_for, env_option, json_option
from blog_infra.target import resolve
from emulator import control


@click.group("local")
def local_group() -> None:
    """The embedded local AWS emulator on 127.0.0.1 and the platform deployed on it."""


def _emulated(env: str) -> None:
    config = config_for(env)
    if not config.is_emulated:
        raise BadInput(
            f"--env {env} deploys to AWS, not to the local emulator; use 'blog-infra deploy --env {env}'"
        )


@local_group.command("up")
@env_option
def up_command(env: str) -> None:
    """Start the emulator, bootstrap it, deploy the platform and print its outputs.

    Running it again reports no changes.

    Example: blog-infra local up
    """
    _emulated(env)
    config = config_for(env)
    try:
        status = control.start(paths.emulator_state_dir())
    except control.EmulatorError as exc:
        raise Unavailable(f"could not start the local emulator: {exc}") from None
    render.console.print(f"Local AWS emulator running at {status.endpoint} (log: {status.log_path}).")
    target = resolve(config)
    offset = control.log_size(status.log_path)
    operations.bootstrap(config, target)
    operations.deploy(config, target)
    if not all(state.present for state in images.states(config, target, deployed=True)):
        # Day 0, as on a new account: the services waited for images their repositories could not hold
        # before this deploy created them. Push (stand-ins here) and deploy again to start them.
        for line in images.push(config, target):
            render.console.print(line)
        operations.deploy(config, target)
    problems = control.log_problems(status.log_path, offset)
    if problems:
        raise CliError(f"the emulator reported an internal error during the deploy: {problems[0]}")
    render.console.print(
        render.outputs_table(f"{config.stack_name} outputs", stacks.outputs(target, config.stack_name))
    )


@local_group.command("down")
@env_option
def down_command(env: str) -> None:
    """Destroy the local platform and stop the emulator.

    Example: blog-infra local down
    """
    _emulated(env)
    config = config_for(env)
    state = paths.emulator_state_dir()
    if _stop_pipelines():
        render.console.print("Local pipelines platform stopped.")
    if control.status(state).running:
        operations.destroy(config, resolve(config))
    stopped = control.stop(state)
    render.console.print("Local AWS emulator stopped." if stopped else "Local AWS emulator was not running.")


@local_group.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """Whether the emulator runs, and the endpoint to point the AWS CLI or boto3 at.

    Example: aws --endpoint-url "$(blog-infra local status --json | jq -r .endpoint)" s3 ls
    """
    status = control.status(paths.emulator_state_dir())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "running": status.running,
                    "endpoint": status.endpoint,
                    "pid": status.pid,
                    "log": str(status.log_path),
                },
                indent=2,
            )
        )
        return
    if status.running:
        render.console.print(f"running at {status.endpoint} (pid {status.pid}, log {status.log_path})")
        render.console.print(
            f"Try: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url {status.endpoint} "
            "--region us-east-1 s3 ls"
        )
    else:
        render.console.print("not running (start it with 'blog-infra local up')")


@local_group.command("iam-audit")
@env_option
@json_option
def iam_audit_command(env: str, as_json: bool) -> None:
    """What the platform's roles were allowed and refused on the emulator, and their unused statements.

    The emulator enforces IAM and records each decision for a role session with the statement that
    allowed it. After running software on the local platform (`local pipelines up` and a flow run,
    or the conformance layer), a statement no call used is a candidate dead grant.

    Example: blog-infra local iam-audit --json | jq '.[] | select(.sessions_seen) | .unused'
    """
    _emulated(env)
    config = config_for(env)
    target = resolve(config)
    assert target.endpoint is not None
    try:
        record = iam_audit.decisions(target.endpoint)
    except LookupError as exc:
        raise Unavailable(str(exc)) from None
    if stacks.stack_status(target, config.stack_name) is None:
        raise BadInput(
            f"{config.stack_name} is not deployed on the local emulator; run 'blog-infra local up'"
        )
    iam = target.client("iam")
    roles = iam_audit.role_arns(
        iam, iam_audit.stack_roles(target.client("cloudformation"), config.stack_name)
    )
    audits = iam_audit.audit(iam, roles, record)
    if as_json:
        click.echo(json.dumps(iam_audit.as_json(audits), indent=2))
        return
    seen = [a for a in audits if a.sessions_seen]
    render.console.print(
        f"{len(record)} IAM decisions recorded; {len(seen)} of {len(audits)} roles of {config.stack_name} "
        "made calls."
    )
    for entry in seen:
        render.console.print(
            f"{entry.logical_id}: {len(entry.used)} statements used, {len(entry.unused)} unused"
        )
        for statement in entry.unused:
            render.console.print(f"  unused {statement.label}: {', '.join(statement.actions)}")
        for call in entry.refused:
            render.console.print(f"  refused {call}")


# --- The local pipelines platform --------------------------------------------------------------

EXAMPLE = paths.REPO_ROOT / "examples" / "pipelines"
DEFAULT_IMAGES = (f"blog-data-flows:local={EXAMPLE / 'requirements.txt'}",)
DEFAULT_CODE = (f"/opt/prefect/pipelines={EXAMPLE}",)
"""The example project's (examples/pipelines) image and code, when none are named."""


def _pipelines_dir() -> Path:
    return paths.state_dir() / "pipelines"


def _stop_pipelines() -> bool:
    from blog_infra.sandbox import pipelines

    try:
        return pipelines.stop(_pipelines_dir())
    except pipelines.PipelinesError as exc:
        raise CliError(str(exc)) from None


def _pairs(values: tuple[str, ...], option: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise BadInput(f"{option} {value!r}: expected {what}")
        pairs[key] = str(Path(path).resolve())
    return pairs


@local_group.group("pipelines")
def pipelines_group() -> None:
    """The real Prefect of the local platform, with flow runs that run (docs/pipelines-local.md)."""


@pipelines_group.command("up")
@env_option
@click.option(
    "--image",
    "images_",
    multiple=True,
    metavar="REF=REQUIREMENTS",
    help="A flow-run image: its reference (a deployment's `image` job variable) and the pinned "
    "requirements file it installs on the Prefect image. Repeatable. Default: the example's, "
    "blog-data-flows:local=examples/pipelines/requirements.txt.",
)
@click.option(
    "--code",
    multiple=True,
    metavar="CONTAINER_DIR=DIR",
    help="Flow code: DIR, bound read-only at CONTAINER_DIR in every flow run (where the deployment's "
    "set_working_directory pull step looks). Repeatable. Default: the example's, "
    "/opt/prefect/pipelines=examples/pipelines.",
)
def pipelines_up_command(env: str, images_: tuple[str, ...], code: tuple[str, ...]) -> None:
    """Start Prefect (API + UI, services, worker) from the deployed local stack, and run flow runs.

    Needs the local platform ('make up'). Running it again reports what runs.

    Example: blog-infra local pipelines up
    """
    from blog_infra.sandbox import images, pipelines

    _emulated(env)
    image_files = _pairs(images_ or DEFAULT_IMAGES, "--image", "REF=REQUIREMENTS_FILE")
    for reference, requirements in image_files.items():
        try:
            images.from_requirements(reference, Path(requirements))
        except images.BadRequirements as exc:
            raise BadInput(f"--image {reference}: {exc}") from None
    directories = _pairs(code or DEFAULT_CODE, "--code", "CONTAINER_DIR=DIR")
    for target, directory in directories.items():
        if not target.startswith("/") or not Path(directory).is_dir():
            raise BadInput(
                f"--code {target}={directory}: expected an absolute container path and a directory"
            )
    if os.geteuid() != 0:
        raise BadInput("the local pipelines platform needs root (mount namespaces, as the conformance layer)")
    config = config_for(env)
    if stacks.stack_status(resolve(config), config.stack_name) is None:
        raise Unavailable(
            f"stack {config.stack_name} is not deployed on the local emulator; run 'make up' first"
        )
    settings = pipelines.Settings(
        env=env, state_dir=str(_pipelines_dir()), images=image_files, directories=directories
    )
    began = time.monotonic()
    try:
        current = pipelines.start(settings)
    except pipelines.PipelinesError as exc:
        raise Unavailable(str(exc)) from None
    if current.state != "ready":
        raise CliError(
            f"the local pipelines platform did not start: {current.message or 'see the log'} "
            f"(log: {current.log_path})"
        )
    _print_pipelines(current, waited=time.monotonic() - began)


def _print_pipelines(current: Any, *, waited: float | None = None) -> None:
    details = current.details
    if waited is not None:
        render.console.print(f"Local pipelines platform ready ({waited:.0f} s; log: {current.log_path}).")
    render.console.print(f"  UI:         {details['ui_url']}  (sign in with the auth string below)")
    render.console.print(f"  API:        {details['api_url']}")
    render.console.print(f"  Work pool:  {details['work_pool']}")
    render.console.print(f"  Auth:       the secret {details['auth_secret_arn']}")
    render.console.print(f"  Flow images: {', '.join(f'{k} ({v})' for k, v in details['images'].items())}")
    render.console.print(
        f"  Flow code:   {', '.join(f'{v} at {k}' for k, v in details['directories'].items())}"
    )
    render.console.print('Point the Prefect CLI at it: eval "$(blog-infra local pipelines env)"')


@pipelines_group.command("down")
def pipelines_down_command() -> None:
    """Stop every process the local pipelines platform started.

    Example: blog-infra local pipelines down
    """
    stopped = _stop_pipelines()
    render.console.print(
        "Local pipelines platform stopped." if stopped else "Local pipelines platform was not running."
    )


@pipelines_group.command("status")
@json_option
def pipelines_status_command(as_json: bool) -> None:
    """Whether the local pipelines platform runs, and where.

    Example: blog-infra local pipelines status --json
    """
    from blog_infra.sandbox import pipelines

    current = pipelines.status(_pipelines_dir())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "running": current.running,
                    "state": current.state,
                    "pid": current.pid,
                    "message": current.message,
                    "log": str(current.log_path),
                    **dict(current.details),
                },
                indent=2,
            )
        )
        return
    if current.running and current.state == "ready":
        render.console.print(f"ready (pid {current.pid}): {', '.join(current.details.get('containers', []))}")
        _print_pipelines(current)
    elif current.running:
        render.console.print(f"{current.state} (pid {current.pid}; log {current.log_path})")
    else:
        suffix = f": {current.message}" if current.state == "failed" else ""
        render.console.print(f"{current.state}{suffix} (start it with 'blog-infra local pipelines up')")


@pipelines_group.command("env")
@env_option
def pipelines_env_command(env: str) -> None:
    """Shell exports that point the Prefect CLI at the local pipelines platform (the auth string included).

    Example: eval "$(blog-infra local pipelines env)"
    """
    import shlex

    from blog_infra.sandbox import pipelines

    current = pipelines.status(_pipelines_dir())
    if not (current.running and current.state == "ready"):
        raise Unavailable(
            "the local pipelines platform is not running: start it with 'blog-infra local pipelines up'"
        )
    target = resolve(config_for(env))
    value = target.client("secretsmanager").get_secret_value(SecretId=current.details["auth_secret_arn"])
    click.echo(f"export PREFECT_API_URL={shlex.quote(current.details['api_url'])}")
    click.echo(f"export PREFECT_API_AUTH_STRING={shlex.quote(value['SecretString'])}")
