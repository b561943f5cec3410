"""The deploy, destroy and bootstrap flows shared by several commands."""

from __future__ import annotations

import time
from collections.abc import Iterable

from blog_infra import render, stacks
from blog_infra.cdk import run_cdk
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.planning import Plan, compute_plan
from blog_infra.synthesis import Assembly, synth
from blog_infra.target import Target
from infra.config import EnvConfig


def plan(config: EnvConfig, target: Target) -> tuple[Assembly, Plan]:
    assembly = synth(config)
    deployed = stacks.deployed_template(target, assembly.stack_name)
    return assembly, compute_plan(deployed, assembly.template(), region=config.region)


def refuse_dangerous(plan: Plan, allow_replace: Iterable[str]) -> None:
    allowed = set(allow_replace)
    blocked = [c for c in plan.dangerous if c.logical_id not in allowed]
    if blocked:
        names = ", ".join(
            f"{c.logical_id} ({c.resource_type}, {c.action.value}"
            f"{'' if c.action.value == 'remove' else ', replacement ' + c.replacement.value})"
            for c in blocked
        )
        raise CliError(
            f"refusing to replace or delete stateful resources: {names}; "
            f"if that is intended, repeat with --allow-replace <logical id> for each",
            ExitCode.REFUSED,
        )


def deploy(config: EnvConfig, target: Target, *, allow_replace: Iterable[str] = ()) -> bool:
    """Deploy the environment; False when there was nothing to change."""
    started = time.monotonic()
    assembly, changes = plan(config, target)
    if changes.empty:
        render.console.print(f"No changes: {assembly.stack_name} on {target.description} is up to date.")
        return False
    refuse_dangerous(changes, allow_replace)
    render.console.print(
        f"Deploying {assembly.stack_name} to {target.description}: {render.plan_summary(changes)}"
    )
    with render.DeployProgress("deploy") as progress:
        run = run_cdk(
            [
                "deploy",
                assembly.stack_name,
                "--app",
                str(assembly.directory),
                "--require-approval",
                "never",
                "--progress",
                "events",
                "--no-notices",
                "--ci",
            ],
            target,
            on_event=progress,
        )
    if run.returncode != 0:
        target.ensure_reachable(f"deploy of {assembly.stack_name}")
        raise CliError(f"deploy of {assembly.stack_name} failed: {run.error_summary()}")
    render.console.print(f"Deployed {assembly.stack_name} in {time.monotonic() - started:.0f} s.")
    return True


def destroy(config: EnvConfig, target: Target) -> bool:
    """Delete the environment's stack; False when it was not deployed."""
    if stacks.stack_status(target, config.stack_name) is None:
        render.console.print(
            f"Nothing to destroy: {config.stack_name} is not deployed on {target.description}."
        )
        return False
    assembly = synth(config)
    with render.DeployProgress("destroy") as progress:
        run = run_cdk(
            [
                "destroy",
                assembly.stack_name,
                "--app",
                str(assembly.directory),
                "--force",
                "--progress",
                "events",
                "--no-notices",
                "--ci",
            ],
            target,
            on_event=progress,
        )
    if run.returncode != 0:
        target.ensure_reachable(f"destroy of {assembly.stack_name}")
        raise CliError(f"destroy of {assembly.stack_name} failed: {run.error_summary()}")
    render.console.print(f"Destroyed {assembly.stack_name} on {target.description}.")
    return True


def bootstrap(config: EnvConfig, target: Target) -> None:
    """CDK-bootstrap the target's account and region once."""
    if stacks.is_bootstrapped(target):
        return
    render.console.print(f"Bootstrapping {target.description} for the CDK...")
    run = run_cdk(["bootstrap", f"aws://{config.account_id}/{config.region}", "--no-notices", "--ci"], target)
    if run.returncode != 0:
        raise CliError(f"bootstrap of {target.description} failed: {run.error_summary()}")
