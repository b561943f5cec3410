"""Changing a module's ownership or props without regenerating fails the check (on a copy of the repo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blog_infra.exit_codes import ExitCode
from blog_infra.paths import REPO_ROOT

COPIED = ("aws_policy", "infra", "blog_infra", "emulator", "images", "docs", "catalog-info.yaml")


def _copy_repository(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "cdk.out")
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.slow
def test_changed_ownership_and_props_without_regenerating_fail_the_check(tmp_path: Path) -> None:
    # GIVEN a copy of the repository whose generated docs are current
    _copy_repository(tmp_path)
    # WHEN a module's ownership and another module's props docstring change, and nothing is regenerated
    _replace(
        tmp_path / "infra/modules/core/network/__init__.py",
        'consumers=("All AWS services",)',
        'consumers=("All AWS services", "A new consumer")',
    )
    _replace(
        tmp_path / "infra/modules/core/ecs_cluster/construct.py",
        '"""VPC of the cluster."""',
        '"""VPC the cluster runs in."""',
    )
    environment = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "blog_infra.cli", "docs", "--check"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # THEN the check exits 3 and names each file that is out of date, and only those
    output = result.stdout + result.stderr
    assert result.returncode == ExitCode.CHANGES, output
    assert "docs/ownership.md" in output
    assert "catalog-info.yaml" not in output
    assert "infra/modules/core/ecs_cluster/README.md" in output
    assert "infra/modules/core/network/README.md" not in output
    assert "make docs" in output
