"""A new environment is day 0 too: a copy of prod's configuration under another name synthesizes and
passes every gate with no edit anywhere else (acknowledgements speak in `{env}`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.config import CONFIG_FILE_NAME, ENVS_DIR, load_config


@pytest.mark.slow
def test_a_copy_of_prod_named_staging_passes_the_gates(tmp_path: Path, checkov_bin: Path) -> None:
    from blog_infra.gates.runner import run_gates

    # GIVEN prod's configuration copied, unchanged, as `staging` into a folder of environments
    # outside the repository (the loader reads environments from any folder it is given)
    envs = tmp_path / "envs"
    (envs / "staging").mkdir(parents=True)
    shutil.copyfile(ENVS_DIR / "prod" / CONFIG_FILE_NAME, envs / "staging" / CONFIG_FILE_NAME)
    config = load_config("staging", envs)
    assert config.name == "staging" and config.stack_name == "blog-staging"
    # WHEN its stack is synthesized with every gate on (as `blog-infra check` does)
    report = run_gates(config, outdir=tmp_path / "cdk.out", checkov_bin=checkov_bin)
    # THEN it synthesized, and no gate has an unacknowledged finding
    assert report.gated is not None and (tmp_path / "cdk.out" / "blog-staging.template.json").is_file()
    assert [f"{f.gate} {f.rule} {f.resource}" for f in report.failing] == []
