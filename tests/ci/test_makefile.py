"""The Makefile's one-time installs: the targets that need several run them side by side, in one
sub-make that shares the caller's job server, without weakening what each install depends on."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

VENV, NODE, CHECKOV = ".venv/bin/.installed", "node_modules/.installed", ".tools/checkov/.installed"


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    """`make -n -B ARGS`: every command the target would run on a fresh clone, none run."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def sub_make(output: str) -> str:
    (line,) = [line for line in output.splitlines() if " installs INSTALLS=" in line]
    return line


@pytest.mark.parametrize(
    ("target", "stamps", "commands"),
    [
        ("setup", [VENV, NODE], ["-r requirements.txt", "npm ci"]),
        ("check", [VENV, NODE, CHECKOV], ["-r requirements.txt", "npm ci", "-r requirements-checkov.txt"]),
        ("test", [VENV, NODE, CHECKOV, "conformance-tools"], ["-r requirements.txt", "npm ci"]),
    ],
)
def test_a_target_installs_what_it_needs_side_by_side(
    target: str, stamps: list[str], commands: list[str]
) -> None:
    # GIVEN a fresh clone WHEN the target runs
    output = dry_run(target).stdout
    # THEN one sub-make builds every install it needs, several at a time, and each install runs
    line = sub_make(output)
    assert " -j4 " in line and f'INSTALLS="{" ".join(stamps)}"' in line, line
    for command in commands:
        assert command in output, command


def test_under_make_j_the_installs_share_the_callers_job_server() -> None:
    # GIVEN make -j2 WHEN setup runs THEN its sub-make takes its jobs from the caller's job server
    result = dry_run("-j2", "setup")
    assert " -j4 " not in sub_make(result.stdout)
    assert "jobserver unavailable" not in result.stderr
    assert "npm ci" in result.stdout
