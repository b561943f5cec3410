"""`blog-infra preflight`: what in the target account would make a deploy fail."""

from __future__ import annotations

import json

import click

from blog_infra import operations, preflight, render
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.options import config_for, env_option, json_option
from blog_infra.target import resolve


@click.command("preflight")
@env_option
@json_option
def preflight_command(env: str, as_json: bool) -> None:
    """Read the target account and say, one line each, what would make a deploy of ENV fail.

    Synthesizes ENV (without the gates: `check` runs those) and reads the account it deploys to
    (the local emulator for --env local, AWS otherwise), each check through one AWS API:

    \b
    images              ecr:DescribeImages: every ECR image of a task definition has its tag
                        (an image from another registry is noted, not checked)
    zones               ec2:DescribeAvailabilityZones: the subnets' zones are offered to the
                        account, and CloudFront VPC origins are offered in them
    lambda-concurrency  lambda:GetAccountSettings: the quota leaves 100 unreserved after the
                        stack's reserved concurrency
    stand-in-ids        the configuration: account and CircleCI ids are not stand-ins (AWS only)
    certificate         acm:DescribeCertificate: an imported edge.certificate_arn is issued

    `deploy` runs the same checks first and refuses when one finds a problem.

    Exits 0 when nothing would fail, 7 when something would (each problem a line naming its fix),
    2 on bad input, 5 when the target cannot be reached.

    Example: blog-infra preflight --env prod --json > reports/preflight.json
    """
    config = config_for(env)
    stand_ins = preflight.stand_in_findings(config)
    if stand_ins:
        report = preflight.Report(
            env=config.name,
            target=f"AWS account {config.account_id} in {config.region}",
            findings=tuple(stand_ins),
            checks=(("stand-in-ids", preflight.CHECKS["stand-in-ids"][1]),),
        )
    else:
        target = resolve(config)
        with (
            render.err_console.status(f"Synthesizing {config.stack_name} and reading the account..."),
            operations.planned(config, target, checked=False) as (assembly, changes),
        ):
            report = preflight.run(config, target, assembly.template(), changes)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for finding in report.findings:
            mark = "[red]problem[/]" if finding.problem else "[yellow]note[/]"
            render.console.print(f"{mark} {finding.check}: {finding.message}", soft_wrap=True)
        if not report.problems:
            render.console.print(
                f"Preflight of {report.env} on {report.target}: nothing would make the deploy fail."
            )
    refusal = preflight.refusal(report)
    if refusal:
        raise CliError(refusal, ExitCode.PREFLIGHT_FAILED)
