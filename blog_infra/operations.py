"""The deploy, destroy and bootstrap flows shared by several commands."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from blog_infra import change_sets, images, paths, preflight, protection, render, stacks
from blog_infra.cdk import run_cdk
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.planning import Action, Plan, ResourceChange, compute_plan
from blog_infra.synthesis import Assembly, synth
from blog_infra.target import Target
from infra.config import EnvConfig

FIRST_CREATE = (None, "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE")
"""Stack states in which a deploy creates the stack (the CDK CLI deletes a ROLLBACK_COMPLETE stack
before it creates it again)."""


@contextmanager
def private_assembly(
    config: EnvConfig, *, checked: bool = True, validate: bool = False
) -> Iterator[Assembly]:
    """Synthesize into a directory of this process's own (removed afterwards), so that a deploy is
    never disturbed by another synth of the same environment (`make synth`, a second terminal).

    `checked` runs the safety gates, as everything deployed must; without it the synthesis only
    serves to plan, which is several times faster and gives the same template (`validate` keeps
    CDK's own template rules)."""
    runs = paths.REPO_ROOT / "cdk.out" / ".runs"
    runs.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=f"{config.name}-", dir=runs))
    try:
        if checked:
            assembly = synth(config, directory)
        else:
            assembly = synth(config, directory, gates=False, validate=validate)
        if assembly.cached:
            render.err_console.print(
                f"Synthesis of {config.name}: inputs unchanged, from the cache (--no-cache redoes it)."
            )
        yield assembly
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def plan(config: EnvConfig, target: Target) -> Plan:
    """What deploying the environment would change (planning only: the gates run in `check`)."""
    with planned(config, target, checked=False) as (_, changes):
        return changes


@contextmanager
def planned(config: EnvConfig, target: Target, *, checked: bool = True) -> Iterator[tuple[Assembly, Plan]]:
    """The synthesized assembly and what deploying it would change."""
    with private_assembly(config, checked=checked) as assembly:
        deployed = stacks.deployed_template(target, assembly.stack_name)
        yield assembly, compute_plan(deployed, assembly.template(), region=config.region)


def refuse_dangerous(
    plan: Plan, allow_replace: Iterable[str], change_set: Iterable[ResourceChange] = ()
) -> None:
    """Refuse when our plan or CloudFormation's change set replaces or deletes a stateful resource
    that `allow_replace` does not name; the message says which of the two said so."""
    allowed = set(allow_replace)
    said: dict[str, dict[str, ResourceChange]] = {}
    for source, changes in (("plan", plan.changes), ("change set", tuple(change_set))):
        for change in changes:
            if change.dangerous and change.logical_id not in allowed:
                said.setdefault(change.logical_id, {})[source] = change
    if said:
        names = ", ".join(_refused(logical_id, said[logical_id]) for logical_id in sorted(said))
        raise CliError(
            f"refusing to replace or delete stateful resources: {names}; "
            f"if that is intended, repeat with --allow-replace <logical id> for each",
            ExitCode.REFUSED,
        )


def _refused(logical_id: str, views: dict[str, ResourceChange]) -> str:
    def what(change: ResourceChange) -> str:
        if change.action is Action.REMOVE:
            return change.action.value
        return f"{change.action.value}, replacement {change.replacement.value}"

    first = next(iter(views.values()))
    kinds = {what(change) for change in views.values()}
    if len(kinds) == 1:
        return f"{logical_id} ({first.resource_type}, {kinds.pop()}) by {' and '.join(views)}"
    return (
        f"{logical_id} ({first.resource_type}, "
        + "; ".join(f"{what(change)} by {source}" for source, change in views.items())
        + ")"
    )


def deploy(config: EnvConfig, target: Target, *, allow_replace: Iterable[str] = ()) -> bool:
    """Deploy the environment; False when there was nothing to change.

    Services whose image is not in ECR yet wait at zero tasks (`images.with_waiting_services`: a first
    deploy, or a service that waits already); a running service whose image is missing is refused.

    A stack that does not exist yet, with deletion protection configured, is created in two steps
    (`first_create`); a stack whose first create could not be rolled back is refused, naming why.
    """
    started = time.monotonic()
    config, found = images.with_waiting_services(config, target)
    deployed = _deploy_stack(config, target, allow_replace=allow_replace, started=started)
    if config.waiting_for_images:
        # Read again: a first deploy has just created the repositories these lines name.
        found = images.states(config, target, deployed=True)
    for line in images.waiting_lines(config, found):
        render.console.print(line)
    return deployed


def _deploy_stack(config: EnvConfig, target: Target, *, allow_replace: Iterable[str], started: float) -> bool:
    status = stacks.stack_status(target, config.stack_name)
    if status == "ROLLBACK_FAILED":
        reason = stacks.status_reason(target, config.stack_name)
        raise CliError(
            f"{config.stack_name} on {target.description} is in ROLLBACK_FAILED ({reason}); delete what "
            "blocks its rollback (turn its deletion protection off), delete the stack, then deploy again "
            "(docs/operations.md#a-failed-first-deploy)",
            ExitCode.FAILED,
        )
    creating = status in FIRST_CREATE and bool(config.deletion_protections)
    # Plan on the fast synthesis first: when nothing changed, the deployed template passed the gates
    # already, and a change the plan refuses is refused before the slower gated synthesis (the
    # change set could only add to what is refused). Then preflight: what in the account would make the
    # deploy fail (a Lambda quota too low, a zone, ...) refuses it before anything changes.
    with planned(config, target, checked=False) as (fast, first):
        template = fast.template()
    if first.empty and not creating:
        render.console.print(f"No changes: {config.stack_name} on {target.description} is up to date.")
        return False
    refuse_dangerous(first, allow_replace)
    refused = preflight.refusal(preflight.run(config, target, template, first))
    if refused:
        raise CliError(f"refusing to deploy: {refused}", ExitCode.PREFLIGHT_FAILED)
    if creating:
        return first_create(config, target, allow_replace=allow_replace, started=started)
    with planned(config, target) as (assembly, changes):
        return _deploy(assembly, changes, target, allow_replace=allow_replace, started=started)


def first_create(
    config: EnvConfig, target: Target, *, allow_replace: Iterable[str] = (), started: float | None = None
) -> bool:
    """Create the stack with deletion protection off, then turn it on in an update.

    A failed create is rolled back by CloudFormation, which cannot delete a protected load balancer
    or cluster: the stack would end ROLLBACK_FAILED and block every retry. So step 1 creates the stack
    from `config.without_deletion_protection()`, a template that differs from the gated one in the
    protection flags only (checked: `protection.differences_beyond_protection`), and step 2 deploys
    the gated template, whose only change is turning the protection on. If step 2 does not happen,
    the next deploy does it: it is an ordinary update.
    """
    started = time.monotonic() if started is None else started
    names = ", ".join(config.deletion_protections)
    with planned(config, target) as (assembly, _):
        with private_assembly(config.without_deletion_protection(), checked=False, validate=True) as first:
            differences = protection.differences_beyond_protection(assembly.template(), first.template())
            if differences:
                raise CliError(
                    f"the first-create template of {assembly.stack_name} differs from the checked one "
                    f"beyond deletion protection, in {', '.join(differences[:5])}; nothing was deployed"
                )
            render.console.print(
                f"First create of {assembly.stack_name}, step 1 of 2: created with deletion protection off "
                f"({names}), so that a failed create rolls back completely."
            )
            first_plan = compute_plan(None, first.template(), region=config.region)
            _deploy(first, first_plan, target, allow_replace=allow_replace, started=started)
        render.console.print(
            f"First create of {assembly.stack_name}, step 2 of 2: turning deletion protection on ({names})."
        )
        deployed = stacks.deployed_template(target, assembly.stack_name)
        changes = compute_plan(deployed, assembly.template(), region=config.region)
        _deploy(assembly, changes, target, allow_replace=allow_replace, started=started)
    return True


def _deploy(
    assembly: Assembly, changes: Plan, target: Target, *, allow_replace: Iterable[str], started: float
) -> bool:
    """Prepare the gated assembly's change set, refuse it or execute it."""
    if changes.empty:
        render.console.print(f"No changes: {assembly.stack_name} on {target.description} is up to date.")
        return False
    name = f"blog-infra-{uuid.uuid4().hex[:16]}"
    render.console.print(f"Preparing change set {name} of {assembly.stack_name} on {target.description}...")
    executed = False
    try:
        _stack_command(
            "deploy",
            assembly,
            target,
            "--method=prepare-change-set",
            "--change-set-name",
            name,
            "--require-approval",
            "never",
            during="preparing the change set",
        )
        prepared = change_sets.describe(target, assembly.stack_name, name)
        if prepared.empty:
            render.console.print(
                f"No changes: CloudFormation finds {assembly.stack_name} on {target.description} up to date."
            )
            return False
        refuse_dangerous(changes, allow_replace, prepared.changes)
        render.console.print(
            f"Deploying {assembly.stack_name} to {target.description}: {render.plan_summary(changes)}"
        )
        executed = True
        _stack_command(
            "deploy",
            assembly,
            target,
            "--method=execute-change-set",
            "--change-set-name",
            name,
            "--require-approval",
            "never",
        )
    finally:
        if not executed:
            problem = change_sets.delete(target, assembly.stack_name, name)
            if problem:
                render.err_console.print(f"warning: change set {name} could not be deleted: {problem}")
    render.console.print(f"Deployed {assembly.stack_name} in {time.monotonic() - started:.0f} s.")
    return True


def destroy(config: EnvConfig, target: Target) -> bool:
    """Delete the environment's stack; False when it was not deployed."""
    if stacks.stack_status(target, config.stack_name) is None:
        render.console.print(
            f"Nothing to destroy: {config.stack_name} is not deployed on {target.description}."
        )
        return False
    with private_assembly(config, checked=False) as assembly:
        _stack_command("destroy", assembly, target, "--force")
    render.console.print(f"Destroyed {assembly.stack_name} on {target.description}.")
    return True


def _stack_command(
    verb: str, assembly: Assembly, target: Target, *options: str, during: str | None = None
) -> None:
    """`cdk deploy|destroy` of the assembly's stack with progress, failing with the first reason
    (`during` names the step in that message; the verb by default)."""
    with render.DeployProgress(verb) as progress:
        app = ["--app", str(assembly.directory)]
        run = run_cdk(
            [verb, assembly.stack_name, *app, *options, "--progress", "events", "--no-notices", "--ci"],
            target,
            on_event=progress,
        )
    if run.returncode != 0:
        target.ensure_reachable(f"{verb} of {assembly.stack_name}")
        raise CliError(f"{during or verb} of {assembly.stack_name} failed: {run.error_summary()}")


def bootstrap(config: EnvConfig, target: Target) -> None:
    """CDK-bootstrap the target's account and region once."""
    if stacks.is_bootstrapped(target):
        return
    render.console.print(f"Bootstrapping {target.description} for the CDK...")
    run = run_cdk(["bootstrap", f"aws://{config.account_id}/{config.region}", "--no-notices", "--ci"], target)
    if run.returncode != 0:
        raise CliError(f"bootstrap of {target.description} failed: {run.error_summary()}")
