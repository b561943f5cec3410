"""The command line: documented commands, one-line errors, exit codes, nothing deployed on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from blog_infra.cli import cli, main
from blog_infra.exit_codes import ExitCode

REPO_ROOT = Path(__file__).resolve().parents[2]


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


@pytest.fixture
def no_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory in which no emulator runs."""
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(tmp_path))
    return tmp_path


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blog_infra.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("path", "command"), all_commands(cli), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_command_is_documented_with_an_example(path: str, command: click.Command) -> None:
    assert command.help, f"'{path}' has no help text"
    if not isinstance(command, click.Group):
        assert "Example:" in command.help, f"'{path}' help has no example"
        # the emulator's and the local pipelines' state; the docs always describe prod
        environment_free = {"local status", "local pipelines status", "local pipelines down", "docs"}
        assert any(p.name == "env" for p in command.params) or path in environment_free, (
            f"'{path}' lacks --env"
        )


def test_exit_codes_are_distinct() -> None:
    assert len({int(code) for code in ExitCode}) == len(ExitCode)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["synth", "--env", "nope"], "unknown environment 'nope'"),
        (["deploy", "--env", "nope"], "unknown environment 'nope'"),
        (["local", "up", "--env", "prod"], "--env prod deploys to AWS, not to the local emulator"),
        (["deploy", "--env", "prod"], "still holds stand-in values for account_id"),
        (["deploy", "--bogus"], "No such option '--bogus'. (see 'blog-infra deploy --help')"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    args: list[str], expected: str, no_emulator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN bad input WHEN the CLI runs THEN it exits 2 with one line naming the problem
    assert main(args) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [["deploy"], ["diff"], ["outputs"], ["destroy", "--yes"]])
def test_commands_on_local_need_a_running_emulator(
    command: list[str], no_emulator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--env", "local"]) == ExitCode.UNAVAILABLE
    err = capsys.readouterr().err
    assert "the local emulator is not running: start it with 'blog-infra local up'" in err


def test_a_broken_config_file_gives_no_traceback(tmp_path: Path) -> None:
    # GIVEN the real entry point WHEN given an unknown environment THEN one line, exit 2, no traceback
    result = run_cli("synth", "--env", "../../etc")
    assert result.returncode == ExitCode.BAD_INPUT
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_local_status_reports_not_running_as_json(
    no_emulator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["local", "status", "--json"]) == ExitCode.OK
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is False and status["endpoint"] is None


@pytest.mark.slow
def test_synth_writes_the_environment_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--env", "prod"]) == ExitCode.OK
    template = json.loads((REPO_ROOT / "cdk.out" / "prod" / "blog-prod.template.json").read_text())
    assert template["Resources"]["AuroraCluster"]["Properties"]["DeletionProtection"] is True
    assert "Synthesized blog-prod" in capsys.readouterr().out
