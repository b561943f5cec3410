"""`blog-infra check`: the five safety gates on the synthesized templates."""

from __future__ import annotations

import json
import time

import click
from rich.table import Table

from blog_infra import render
from blog_infra.errors import BadInput, CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.gates.runner import (
    EnvironmentReport,
    check_environments,
    stale_acknowledgements,
    summary_json,
    write_reports,
)
from blog_infra.options import config_for, json_option
from infra.gates import AcknowledgementError, load_acknowledgements


@click.command("check")
@click.option(
    "--env",
    "env",
    multiple=True,
    default=("local",),
    show_default=True,
    metavar="ENV",
    help="Environment to check (repeatable); with every environment, stale acknowledgements fail too.",
)
@json_option
def check_command(env: tuple[str, ...], as_json: bool) -> None:
    """Run the five safety gates on ENV's templates.

    The gates: cdk-nag, the Control Tower controls (cfn-guard), cfn-lint, checkov, and iam-reference
    (every IAM policy statement against the IAM Service Authorization Reference).

    Every finding must be fixed or acknowledged in infra/acknowledgements.toml; exits 1 when one is
    failing, listing each. Writes reports/<env>/<gate>.json for CI.

    Example: blog-infra check --env prod --env local
    """
    configs = [config_for(name) for name in dict.fromkeys(env)]
    try:
        acknowledgements = load_acknowledgements()
    except AcknowledgementError as exc:
        raise BadInput(str(exc)) from None
    started = time.monotonic()
    if not as_json:
        names = ", ".join(config.name for config in configs)
        render.err_console.print(f"Checking {names}: synthesizing with the gates on...")
    try:
        reports = check_environments(configs)
    except AcknowledgementError as exc:
        raise BadInput(str(exc)) from None
    for report in reports:
        write_reports(report)
        if not as_json and report.cached:
            render.err_console.print(
                f"{report.env}: inputs unchanged, results from the cache (--no-cache runs the gates)."
            )
    if not as_json:
        render.err_console.print(f"Checked in {time.monotonic() - started:.1f} s.")
    stale = stale_acknowledgements(reports, acknowledgements)
    summary = summary_json(reports, stale)
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        render.console.print(_table(reports))
        failing = [(r.env, f) for r in reports for f in r.failing] + [("all", f) for f in stale]
        for where, finding in failing:
            render.console.print(f"FAILING {where} | {finding.line()}", soft_wrap=True, markup=False)
    if not summary["passed"]:
        count = len(summary["failing"])
        raise CliError(
            f"{count} finding{'s' if count != 1 else ''} failing; fix or acknowledge them", ExitCode.FAILED
        )


def _table(reports: list[EnvironmentReport]) -> Table:
    table = Table(title="Safety gates", title_justify="left")
    for column in ("Env", "Gate", "Evaluated", "Acknowledged", "Failing"):
        table.add_column(column, justify="right" if column in ("Acknowledged", "Failing") else "left")
    for report in reports:
        for result in report.results:
            failing = len(result.failing)
            table.add_row(
                report.env,
                result.gate,
                result.evaluated,
                str(len(result.acknowledged)),
                f"[bold red]{failing}[/]" if failing else "0",
            )
        if report.other_failing:
            table.add_row(report.env, "other plugins", "", "0", f"[bold red]{len(report.other_failing)}[/]")
    return table
