"""No tracked file holds a merge's conflict markers (a resolved merge that kept them still commits)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_no_tracked_file_holds_conflict_markers() -> None:
    found = subprocess.run(
        [
            "git",
            "grep",
            "-n",
            "-I",
            "-E",
            "^(<<<<<<<|>>>>>>>) [^ ]",
            "--",
            ".",
            ":!tests/ci/test_no_conflict_markers.py",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1, found.stdout or found.stderr
