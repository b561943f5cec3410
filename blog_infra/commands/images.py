"""`blog-infra images`: the services' images in their ECR repositories, and pushing the platform's own."""

from __future__ import annotations

import json

import click
from rich.table import Table

from blog_infra import images, render, stacks
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.options import config_for, env_option, json_option
from blog_infra.target import resolve


@click.group("images")
def images_group() -> None:
    """The services' images in their ECR repositories, and pushing the platform's own."""


@images_group.command("status")
@env_option
@json_option
def status_command(env: str, as_json: bool) -> None:
    """Each service's image, its repository and whether the image is there (ECR DescribeImages).
    Exits 0 when every image is there, 1 when one is missing.

    Example: blog-infra images status --env prod
    """
    config = config_for(env)
    target = resolve(config)
    deployed = stacks.stack_status(target, config.stack_name) is not None
    found = images.states(config, target, deployed=deployed)
    if as_json:
        rows = [
            {
                "service": s.image.service,
                "image": s.where,
                "present": s.present,
                "pushed_by": s.image.pushed_by,
            }
            for s in found
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        table = Table(title=f"Images of {config.stack_name} on {target.description}", title_justify="left")
        for column in ("Service", "Image", "In ECR", "Pushed by"):
            table.add_column(column)
        for state in found:
            table.add_row(
                state.image.service, state.where, "yes" if state.present else "no", state.image.pushed_by
            )
        render.console.print(table)
    missing = [state.where for state in found if not state.present]
    if missing:
        raise CliError(f"not in ECR: {', '.join(missing)}", ExitCode.FAILED)


@images_group.command("push")
@env_option
def push_command(env: str) -> None:
    """Build the Prefect image (images/prefect) and push it to the environment's repository under its
    content tag, unless it is there already.

    On AWS it runs `docker buildx build --push` for the environment's `prefect.cpu_architecture` after
    `docker login` with an ECR token; on the local emulator, which runs no containers, it puts a
    stand-in manifest under the same tag (and one for the portal, standing in for blog_portal's push).
    The repository is the stack's: on a new account, deploy first (exit 5 until then).

    Example: blog-infra images push --env prod
    """
    config = config_for(env)
    target = resolve(config)
    for line in images.push(config, target):
        render.console.print(line)
    render.console.print(f"The images of {config.stack_name} are in ECR; deploy to start waiting services.")
