"""The embedded local AWS: start it, deploy the local platform on it, stop it."""

from __future__ import annotations

import json

import click

from blog_infra import images, operations, paths, render, stacks
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
