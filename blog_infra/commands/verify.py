"""`blog-infra verify`: does the deployed environment still match the code?"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import click
from rich.table import Table

from blog_infra import render, stacks
from blog_infra.errors import Unavailable
from blog_infra.options import config_for, env_option, json_option
from blog_infra.synthesis import synth
from blog_infra.target import Target, resolve
from blog_infra.verify import Report, Status, Verifier
from infra.config import EnvConfig

_STYLE = {
    Status.PASS: "green",
    Status.DRIFT: "bold red",
    Status.SKIPPED: "yellow",
    Status.UNAVAILABLE: "magenta",
}


SHOWN_LENGTH = 64


def _short(text: str) -> str:
    """Long values (JSON contract parameters) are cut in the table; `--json` has them whole."""
    return text if len(text) <= SHOWN_LENGTH else f"{text[: SHOWN_LENGTH - 21]}...{text[-18:]}"


def report_table(report: Report) -> Table:
    table = Table(title=f"{report.stack} on {report.target}", title_justify="left")
    for column in ("Check", "Resource", "Expected", "Actual", "Status"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        table.add_row(
            check.check,
            check.resource,
            _short(check.expected),
            _short(check.actual),
            f"[{_STYLE[check.status]}]{check.status.value}[/]",
        )
    return table


def verify_environment(
    config: EnvConfig, target: Target, progress: Callable[[str], None] | None = None
) -> Report:
    """The checks of `blog-infra verify` on `target`: the environment's synthesized template against
    the deployed stack, read with the target's credentials."""
    if stacks.stack_status(target, config.stack_name) is None:
        raise Unavailable(f"stack {config.stack_name} is not deployed on {target.description}")
    with tempfile.TemporaryDirectory(prefix="blog-infra-verify-") as directory:
        template = synth(config, Path(directory), gates=False).template()
    return Verifier(target, config.stack_name, template, progress=progress).run()


@click.command("verify")
@env_option
@json_option
def verify_command(env: str, as_json: bool) -> None:
    """Check, read-only, that the deployed environment still matches the code.

    Synthesizes the environment, then reads through the AWS APIs that every resource of the template
    exists and that the security-relevant settings are what the template says: bucket encryption,
    public access block, versioning, tags and policy (its TLS denies present, nothing allowed to
    everyone that the template does not allow); Aurora encryption, deletion protection and backup
    retention; secrets (and the RDS-managed master secret) KMS-encrypted; the load balancer internal,
    dropping invalid headers, its HTTPS listener's TLS policy; the distribution's aliases and minimum
    TLS; every SSM contract parameter present and equal to its stack output. Then CloudFormation drift
    detection, where the engine supports it (the local emulator does not: that row is skipped, never a
    pass).

    Exits 0 when everything conforms, 6 when something drifted, 5 when something could not be checked
    (or the target is unreachable, or the stack is not deployed). A read the credentials may not make
    is a row that could not be checked and a line on stderr naming the action and the caller.

    On AWS it needs read-only credentials only: the customer-managed policy `VerifyPolicy` that
    core/iam_ci attaches to the `<stack>-ci-plan` role; see docs/operations.md.

    Example: blog-infra verify --env prod --json > reports/verify.json
    """
    config = config_for(env)
    target = resolve(config)
    with render.err_console.status(f"Synthesizing {config.stack_name}...") as status:
        report = verify_environment(config, target, progress=lambda m: status.update(m))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        render.console.print(report_table(report))
        counts = ", ".join(f"{n} {status}" for status, n in report.counts().items() if n)
        render.console.print(f"{config.stack_name}: {report.verdict} ({counts}).")
    for refused in report.refusals():
        render.err_console.print(f"[red]error:[/] {refused}", soft_wrap=True)
    if report.exit_code:
        raise SystemExit(report.exit_code)
