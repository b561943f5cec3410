"""Commands that act on one environment's root stack."""

from __future__ import annotations

import json

import click

from blog_infra import images, operations, render, stacks
from blog_infra.exit_codes import ExitCode
from blog_infra.markdown import plan_markdown
from blog_infra.options import config_for, env_option, json_option
from blog_infra.synthesis import synth
from blog_infra.target import resolve


@click.command("synth")
@env_option
def synth_command(env: str) -> None:
    """Synthesize the environment's CloudFormation templates into cdk.out/ENV.

    Example: blog-infra synth --env prod
    """
    config = config_for(env)
    assembly = synth(config)
    template = assembly.template()
    render.console.print(
        f"Synthesized {assembly.stack_name}: {len(template.get('Resources', {}))} resources "
        f"-> {assembly.template_path}" + (" (inputs unchanged: from the cache)" if assembly.cached else "")
    )


@click.command("deploy")
@env_option
@click.option(
    "--allow-replace",
    multiple=True,
    metavar="LOGICAL_ID",
    help="Allow replacing or deleting this stateful resource (repeatable).",
)
def deploy_command(env: str, allow_replace: tuple[str, ...]) -> None:
    """Deploy the environment with the CDK CLI, refusing to replace or delete stateful resources.

    Before anything changes, the checks of `blog-infra preflight` read the target account; when one
    finds something that would make the deploy fail, the deploy is refused (exit 7) with one line
    naming each problem and its fix.

    Example: blog-infra deploy --env prod
    """
    config = config_for(env)
    target = resolve(config)
    operations.deploy(config, target, allow_replace=allow_replace)
    render.console.print(
        render.outputs_table(f"{config.stack_name} outputs", stacks.outputs(target, config.stack_name))
    )


@click.command("diff")
@env_option
@json_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
    help="table for a terminal, json for scripts (same as --json), markdown for a pull-request comment.",
)
def diff_command(env: str, as_json: bool, output_format: str) -> None:
    """Show what a deploy would change; stateful replacements and deletions in red.

    Exits 0 when there is nothing to change, 3 when there are changes.

    Example: blog-infra diff --env prod --format markdown > reports/plan.md
    """
    if as_json and output_format not in ("table", "json"):
        raise click.UsageError(f"--json contradicts --format {output_format}: give one of them")
    if as_json:
        output_format = "json"
    config = config_for(env)
    target = resolve(config)
    config, _ = images.with_waiting_services(config, target, refuse=False)
    plan = operations.plan(config, target)
    if output_format == "json":
        click.echo(json.dumps(plan.to_json(), indent=2, sort_keys=True))
    elif output_format == "markdown":
        click.echo(plan_markdown(plan, stack=config.stack_name, target=target.description), nl=False)
    elif plan.empty:
        render.console.print(f"No changes: {config.stack_name} on {target.description} is up to date.")
    else:
        if plan.changes:
            render.console.print(render.plan_table(plan))
        render.console.print(render.plan_summary(plan))
        if plan.outputs_changed:
            render.console.print(f"Outputs changed: {', '.join(plan.outputs_changed)}")
    if not plan.empty:
        raise SystemExit(ExitCode.CHANGES)


@click.command("destroy")
@env_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy_command(env: str, yes: bool) -> None:
    """Delete the environment's stack; buckets, secrets, keys and a database snapshot are retained.

    Example: blog-infra destroy --env local --yes
    """
    config = config_for(env)
    target = resolve(config)
    if not yes:
        click.confirm(f"Destroy {config.stack_name} on {target.description}?", abort=True)
    operations.destroy(config, target)


@click.command("outputs")
@env_option
@json_option
def outputs_command(env: str, as_json: bool) -> None:
    """Print the deployed stack's outputs: the values sibling repositories consume.

    Example: blog-infra outputs --env local --json
    """
    config = config_for(env)
    target = resolve(config)
    values = stacks.outputs(target, config.stack_name)
    if as_json:
        click.echo(json.dumps({o.key: o.value for o in values}, indent=2, sort_keys=True))
    else:
        render.console.print(render.outputs_table(f"{config.stack_name} outputs", values))
