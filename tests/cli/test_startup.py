"""The CLI starts without loading what a command does not need: `--help` and the commands that read
state (no synthesis) never import the CDK. Time is measured by `make bench`; here, what is imported."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from blog_infra import cli

HEAVY = ("aws_cdk", "jsii")
PROBE = """
import json, sys
import blog_infra.cli as cli
code = cli.main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
"""


def _imported(*args: str, tmp_path: object) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE % ((*HEAVY, "boto3", "pydantic", "rich"),), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"BLOG_INFRA_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    last = result.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    return int(data["code"]), {m.split(".")[0] for m in data["modules"]}


def test_help_imports_neither_the_cdk_nor_boto3_nor_the_config_model(tmp_path: object) -> None:
    code, modules = _imported("--help", tmp_path=tmp_path)
    assert code == 0
    assert modules == set()


@pytest.mark.parametrize(
    "args",
    [
        ("local", "status"),
        ("dns", "plan", "--env", "local"),
        ("outputs", "--env", "local"),
        ("secrets", "status", "--env", "local"),
        ("deploy", "--help"),
    ],
    ids=" ".join,
)
def test_commands_that_need_no_synthesis_do_not_import_the_cdk(
    args: tuple[str, ...], tmp_path: object
) -> None:
    _, modules = _imported(*args, tmp_path=tmp_path)
    assert not modules & set(HEAVY)


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_the_listed_summary_is_the_commands_own(name: str) -> None:
    command = cli.cli.get_command(click.Context(cli.cli), name)
    assert command is not None
    assert cli.summary_of(name).get_short_help_str(limit=1000) == command.get_short_help_str(limit=1000)


def test_every_command_has_short_help_options() -> None:
    def check(command: click.Command) -> None:
        assert "-h" in command.context_settings.get("help_option_names", []), command.name
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                check(sub)

    for name in cli.COMMANDS:
        command = cli.cli.get_command(click.Context(cli.cli), name)
        assert command is not None
        check(command)
