"""`blog-infra`: synthesize, check, diff and deploy the RocketClub blog platform."""

from __future__ import annotations

import sys

import click

from blog_infra.commands.check import check_command
from blog_infra.commands.cost import cost_command
from blog_infra.commands.db import db_group
from blog_infra.commands.dns import dns_group
from blog_infra.commands.docs import docs_command
from blog_infra.commands.local import local_group
from blog_infra.commands.platform import (
    deploy_command,
    destroy_command,
    diff_command,
    outputs_command,
    synth_command,
)
from blog_infra.commands.secrets import secrets_group
from blog_infra.commands.verify import verify_command
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.render import err_console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="blog-infra")
def cli() -> None:
    """Provision and operate the RocketClub blog platform's shared AWS infrastructure.

    Without AWS credentials, use --env local: it deploys to an embedded AWS emulator on 127.0.0.1.

    Example: blog-infra local up
    """


for command in (
    synth_command,
    check_command,
    cost_command,
    deploy_command,
    diff_command,
    destroy_command,
    outputs_command,
    local_group,
    dns_group,
    docs_command,
    verify_command,
    secrets_group,
    db_group,
):
    cli.add_command(command)


def _short_help_option(command: click.Command) -> None:
    """`-h` works on every command, however it is invoked (a group invoked on its own does not
    inherit the root's settings)."""
    command.context_settings.setdefault("help_option_names", ["-h", "--help"])
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _short_help_option(sub)


_short_help_option(cli)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure ends as one line on stderr and an `ExitCode`."""
    try:
        cli.main(args=argv, prog_name="blog-infra", standalone_mode=False)
    except CliError as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        return int(exc.code)
    except click.exceptions.Abort:
        err_console.print("aborted", soft_wrap=True)
        return int(ExitCode.FAILED)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "blog-infra"
        err_console.print(f"[red]error:[/] {exc.format_message()} (see '{where} --help')", soft_wrap=True)
        return int(ExitCode.BAD_INPUT)
    except click.ClickException as exc:
        err_console.print(f"[red]error:[/] {exc.format_message()}", soft_wrap=True)
        return int(ExitCode.BAD_INPUT)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else int(ExitCode.FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted", soft_wrap=True)
        return 130
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
