"""`blog-infra`: synthesize, check, diff and deploy the RocketClub blog platform."""

from __future__ import annotations

import importlib
import sys

import click

from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode

COMMANDS: dict[str, tuple[str, str]] = {
    "synth": (
        "blog_infra.commands.platform:synth_command",
        "Synthesize the environment's CloudFormation templates into cdk.out/ENV.",
    ),
    "check": (
        "blog_infra.commands.check:check_command",
        "Run the five safety gates on ENV's templates.",
    ),
    "cost": (
        "blog_infra.commands.cost:cost_command",
        "Estimate ENV's monthly AWS cost per component from its synthesized template.",
    ),
    "deploy": (
        "blog_infra.commands.platform:deploy_command",
        "Deploy the environment with the CDK CLI, refusing to replace or delete stateful resources.",
    ),
    "preflight": (
        "blog_infra.commands.preflight:preflight_command",
        "Read the target account and say, one line each, what would make a deploy of ENV fail.",
    ),
    "diff": (
        "blog_infra.commands.platform:diff_command",
        "Show what a deploy would change; stateful replacements and deletions in red.",
    ),
    "destroy": (
        "blog_infra.commands.platform:destroy_command",
        "Delete the environment's stack; buckets, secrets, keys and a database snapshot are retained.",
    ),
    "outputs": (
        "blog_infra.commands.platform:outputs_command",
        "Print the deployed stack's outputs: the values sibling repositories consume.",
    ),
    "local": (
        "blog_infra.commands.local:local_group",
        "The embedded local AWS emulator on 127.0.0.1 and the platform deployed on it.",
    ),
    "dns": (
        "blog_infra.commands.dns:dns_group",
        "The platform's Cloudflare DNS records: modeled here, checked through DNS, applied in Cloudflare.",
    ),
    "docs": (
        "blog_infra.commands.docs:docs_command",
        "Generate the docs that derive from the code: ownership, consumer contract, module props, CLI "
        "reference, architecture diagram and Backstage catalog.",
    ),
    "verify": (
        "blog_infra.commands.verify:verify_command",
        "Check, read-only, that the deployed environment still matches the code.",
    ),
    "secrets": (
        "blog_infra.commands.secrets:secrets_group",
        "The platform's secrets: which still hold placeholders, and setting their real values.",
    ),
    "images": (
        "blog_infra.commands.images:images_group",
        "The services' images in their ECR repositories, and pushing the platform's own.",
    ),
    "db": (
        "blog_infra.commands.db:db_group",
        "The shared Aurora cluster: manual snapshots, and restore from a snapshot or a point in time.",
    ),
}
"""Each command: where it is defined, and the summary `blog-infra --help` lists (its docstring's first
sentence; a test keeps the two equal). A command's module is imported only when that command runs, so
`--help` and the commands that need no synthesis never load the CDK, boto3 or the config model."""


class LazyGroup(click.Group):
    """The root group, importing a command's module on first use (click's documented pattern for
    lazily loaded subcommands) and listing the commands from `COMMANDS` without importing them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self._loaded:
            module_name, _, attribute = COMMANDS[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            _short_help_option(command)
            self._loaded[cmd_name] = command
        return self._loaded[cmd_name]

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        """Every command, imported: for the callers that walk the whole tree (the docs, the tests)
        through click's usual attribute; running one command never reads it."""
        return {name: command for name in sorted(COMMANDS) if (command := self.get_command(None, name))}

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, summary_of(name).get_short_help_str(limit)) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def summary_of(name: str) -> click.Command:
    """A stand-in command holding only the listed summary of `name`, shortened as click shortens."""
    return click.Command(name, help=COMMANDS[name][1])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="blog-infra")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Synthesize and run the gates even when every input is unchanged; the assembly cache "
    "(cdk.out/.cache) is neither read nor written.",
)
def cli(no_cache: bool) -> None:
    """Provision and operate the RocketClub blog platform's shared AWS infrastructure.

    Without AWS credentials, use --env local: it deploys to an embedded AWS emulator on 127.0.0.1.

    Example: blog-infra local up
    """
    if no_cache:
        from blog_infra import assembly_cache

        assembly_cache.disable()


def _short_help_option(command: click.Command) -> None:
    """`-h` works on every command, however it is invoked (a group invoked on its own does not
    inherit the root's settings)."""
    command.context_settings.setdefault("help_option_names", ["-h", "--help"])
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _short_help_option(sub)


def _error(text: str) -> None:
    from blog_infra.render import err_console

    err_console.print(text, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure ends as one line on stderr and an `ExitCode`."""
    try:
        cli.main(args=argv, prog_name="blog-infra", standalone_mode=False)
    except CliError as exc:
        _error(f"[red]error:[/] {exc}")
        return int(exc.code)
    except click.exceptions.Abort:
        _error("aborted")
        return int(ExitCode.FAILED)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "blog-infra"
        _error(f"[red]error:[/] {exc.format_message()} (see '{where} --help')")
        return int(ExitCode.BAD_INPUT)
    except click.ClickException as exc:
        _error(f"[red]error:[/] {exc.format_message()}")
        return int(ExitCode.BAD_INPUT)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else int(ExitCode.FAILED)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
