"""The assembly cache as the commands use it: an unchanged environment is not synthesized again, a
changed one is, `--no-cache` bypasses it, and `check` keeps its results with the entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blog_infra import assembly_cache
from blog_infra.cli import main
from blog_infra.exit_codes import ExitCode
from blog_infra.synthesis import synth

pytestmark = pytest.mark.slow  # whole-app syntheses and `check` runs: about a minute


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of this test's own."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(assembly_cache.CACHE_DIR_VARIABLE, str(directory))
    monkeypatch.delenv(assembly_cache.NO_CACHE_VARIABLE, raising=False)
    return directory


def _entries(cache_dir: Path, env: str) -> list[str]:
    folder = cache_dir / env
    return (
        sorted(p.name.rsplit("-", 1)[1] for p in folder.iterdir() if not p.name.startswith("."))
        if folder.exists()
        else []
    )


def test_synth_of_an_unchanged_environment_comes_from_the_cache(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an environment synthesized once (with its gates, as `blog-infra synth` does)
    assert main(["synth", "--env", "local"]) == ExitCode.OK
    first_out = capsys.readouterr().out
    assert "from the cache" not in first_out
    assert _entries(cache_dir, "local") == ["gated"]
    template_path = Path(first_out.split("-> ")[1].split()[0])
    first = template_path.read_text(encoding="utf-8")
    # WHEN it is synthesized again with nothing changed
    assert main(["synth", "--env", "local"]) == ExitCode.OK
    # THEN the assembly is the cached one, byte for byte, and the command says so
    assert "inputs unchanged: from the cache" in capsys.readouterr().out
    assert template_path.read_text(encoding="utf-8") == first
    # AND --no-cache synthesizes again, storing nothing
    assert main(["--no-cache", "synth", "--env", "local"]) == ExitCode.OK
    assert "from the cache" not in capsys.readouterr().out
    assert template_path.read_text(encoding="utf-8") == first


def test_a_changed_configuration_is_synthesized_and_a_plan_may_use_a_gated_entry(
    local_config: Any, cache_dir: Path, tmp_path: Path
) -> None:
    # GIVEN a gated entry of the environment
    gated = synth(local_config, tmp_path / "gated")
    assert not gated.cached
    # WHEN a planning synthesis (no gates, no validation) of the same inputs runs
    plain = synth(local_config, tmp_path / "plain", gates=False, validate=False)
    # THEN it is served by the gated entry: the template is the same
    assert plain.cached and plain.template() == gated.template()
    # WHEN the configuration given differs (a new image tag)
    backstage = local_config.backstage.model_copy(update={"image_tag": "cache-test-tag"})
    changed = local_config.model_copy(update={"backstage": backstage})
    other = synth(changed, tmp_path / "changed", gates=False, validate=False)
    # THEN it is synthesized, stored as a plain entry, and its template differs
    assert not other.cached
    assert other.template() != gated.template()
    assert sorted(_entries(cache_dir, "local")) == ["gated", "plain"]
    # AND a gated synthesis is never served by a plain entry
    assert not synth(changed, tmp_path / "changed-gated").cached


def test_check_of_unchanged_environments_reuses_their_results(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN `check` run once on both environments (each synthesized in a process of its own)
    both = ["check", "--env", "prod", "--env", "local"]
    assert main([*both, "--json"]) == ExitCode.OK
    first = json.loads(capsys.readouterr().out)
    assert first["passed"] and len(first["gates"]) == 10
    assert sorted({gate["env"] for gate in first["gates"]}) == ["local", "prod"]
    assert sorted(_entries(cache_dir, "prod") + _entries(cache_dir, "local")) == ["gated", "gated"]
    # WHEN it runs again with nothing changed
    assert main(both) == ExitCode.OK
    # THEN the results are the stored ones, and it says so for each environment
    err = capsys.readouterr().err
    assert "prod: inputs unchanged, results from the cache" in err
    assert "local: inputs unchanged, results from the cache" in err
    assert main([*both, "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out) == first
