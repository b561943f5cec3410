"""The gates on both environments: one synthesis per environment per test session."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="session")
def checkov_bin() -> Path:
    """checkov from its tool environment; `make gate-tools` installs it on a fresh clone."""
    from blog_infra.gates.checkov_gate import CHECKOV_BIN

    if not CHECKOV_BIN.exists():
        subprocess.run(["make", "--no-print-directory", "gate-tools"], cwd=REPO_ROOT, check=True)
    return CHECKOV_BIN


@pytest.fixture(scope="session")
def gate_reports(
    prod_config: Any, local_config: Any, checkov_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """`blog-infra check` on prod and local, keyed by environment name.

    The Control Tower controls also run inside these syntheses as the validator's plugin, as they did
    before they ran on the templates: the equivalence of the two (tests/gates/test_gates.py) then
    costs no synthesis of its own. The results are the template pass's, as `check`'s are."""
    from blog_infra.gates.runner import run_gates

    outdir = tmp_path_factory.mktemp("gated")
    return {
        config.name: run_gates(
            config, outdir=outdir / config.name, checkov_bin=checkov_bin, guard_plugin=True
        )
        for config in (prod_config, local_config)
    }
