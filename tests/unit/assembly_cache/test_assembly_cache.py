"""The assembly cache: which inputs invalidate an entry, and that a damaged or partial entry is never
used. The repository is a small copy in a temporary directory, so the real inputs are not touched."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blog_infra import assembly_cache as cache
from blog_infra import paths

ENV = "prod"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A repository with one file of each kind of input, and its own cache directory."""
    root = tmp_path / "repo"
    files = {
        "infra/stack.py": "STACK = 1\n",
        "infra/acknowledgements.toml": "[[acknowledgement]]\n",
        "infra/modules/core/rds/bootstrap/handler.py": "HANDLER = 1\n",
        "infra/envs/prod/config.toml": 'name = "prod"\n',
        "infra/envs/local/config.toml": 'name = "local"\n',
        "infra/envs/_profiles/lean.toml": "workers = 0\n",
        "blog_infra/gates/lint.py": "LINT = 1\n",
        "blog_infra/synthesis.py": "SYNTH = 1\n",
        "requirements.txt": "aws-cdk-lib==2.0.0\n",
        "requirements-checkov.txt": "checkov==3.0.0\n",
        "package-lock.json": "{}\n",
        "pyproject.toml": "[project]\n",
        "cdk.json": "{}\n",
        "cdk.context.json": "{}\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "REPO_ROOT", root)
    monkeypatch.setenv(cache.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.delenv(cache.NO_CACHE_VARIABLE, raising=False)
    for name in [n for n in __import__("os").environ if n.startswith(("CDK_", "JSII_"))]:
        monkeypatch.delenv(name)
    yield root


def _assembly(tmp_path: Path, text: str = "{}") -> Path:
    directory = tmp_path / "assembly"
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "asset.abc").mkdir(parents=True)
    (directory / "blog-prod.template.json").write_text(text, encoding="utf-8")
    (directory / "manifest.json").write_text('{"version": "48.0.0"}', encoding="utf-8")
    (directory / "asset.abc" / "handler.py").write_text("print()\n", encoding="utf-8")
    return directory


def _edit(path: Path) -> Callable[[], object]:
    return lambda: path.write_text(path.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")


CHANGES: dict[str, Callable[[Path, pytest.MonkeyPatch], object]] = {
    "infra code": lambda r, m: _edit(r / "infra/stack.py")(),
    "asset code": lambda r, m: _edit(r / "infra/modules/core/rds/bootstrap/handler.py")(),
    "new file under infra": lambda r, m: (r / "infra/new.py").write_text("X = 1\n", encoding="utf-8"),
    "removed file under infra": lambda r, m: (r / "infra/stack.py").unlink(),
    "the environment's config": lambda r, m: _edit(r / "infra/envs/prod/config.toml")(),
    "a profile": lambda r, m: _edit(r / "infra/envs/_profiles/lean.toml")(),
    "acknowledgements": lambda r, m: _edit(r / "infra/acknowledgements.toml")(),
    "gate code": lambda r, m: _edit(r / "blog_infra/gates/lint.py")(),
    "synthesis code": lambda r, m: _edit(r / "blog_infra/synthesis.py")(),
    "python lock file": lambda r, m: _edit(r / "requirements.txt")(),
    "checkov lock file": lambda r, m: _edit(r / "requirements-checkov.txt")(),
    "node lock file": lambda r, m: _edit(r / "package-lock.json")(),
    "cdk context": lambda r, m: _edit(r / "cdk.context.json")(),
    "installed CDK version": lambda r, m: m.setattr(
        cache, "_versions", lambda: {"aws-cdk-lib": "9.9.9"} | dict.fromkeys(cache.DISTRIBUTIONS[1:], "1")
    ),
    "python version": lambda r, m: m.setattr(sys, "version", "3.99.0"),
    "a CDK variable": lambda r, m: m.setenv("CDK_CONTEXT_JSON", '{"x": 1}'),
    "a jsii variable": lambda r, m: m.setenv("JSII_RUNTIME", "/usr/bin/node"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_kind_of_input_change_gives_a_new_key(
    repo: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    before = cache.input_key(ENV)
    assert cache.input_key(ENV) == before
    CHANGES[change](repo, monkeypatch)
    assert cache.input_key(ENV) != before


def test_the_configuration_given_is_part_of_the_key(repo: Path) -> None:
    # GIVEN the same files, and the configuration a synthesis is given (a test's or an edited copy)
    before = cache.input_key(ENV, '{"name": "prod", "az_count": 2}')
    # WHEN only that configuration differs, THEN so does the key
    assert cache.input_key(ENV, '{"name": "prod", "az_count": 2}') == before
    assert cache.input_key(ENV, '{"name": "prod", "az_count": 3}') != before


@pytest.mark.parametrize(
    "change",
    [
        lambda r, m: _edit(r / "infra/envs/local/config.toml")(),
        lambda r, m: (r / "infra/__pycache__").mkdir() or (r / "infra/__pycache__/x.pyc").write_bytes(b"1"),
        lambda r, m: m.setenv("CDK_DISABLE_VERSION_CHECK", "1"),
        lambda r, m: (r / "README.md").write_text("docs\n", encoding="utf-8"),
    ],
    ids=["another environment's config", "bytecode", "a variable that only silences the CLI", "docs"],
)
def test_what_cannot_change_the_assembly_keeps_the_key(
    repo: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Path, pytest.MonkeyPatch], object]
) -> None:
    before = cache.input_key(ENV)
    change(repo, monkeypatch)
    assert cache.input_key(ENV) == before


def test_an_entry_is_found_under_its_key_and_kind_only(repo: Path, tmp_path: Path) -> None:
    key = cache.input_key(ENV)
    stored = cache.store(ENV, key, cache.Kind.GATED, _assembly(tmp_path), "blog-prod", {"passed": True})
    assert stored is not None
    found = cache.lookup(ENV, key, [cache.Kind.GATED])
    assert found is not None
    assert (found.stack_name, found.meta) == ("blog-prod", {"passed": True})
    assert cache.lookup(ENV, key, [cache.Kind.PLAIN]) is None
    assert cache.lookup("local", key, [cache.Kind.GATED]) is None
    assert cache.lookup(ENV, "0" * 64, [cache.Kind.GATED]) is None


def test_a_copied_entry_is_the_stored_assembly(repo: Path, tmp_path: Path) -> None:
    key = cache.input_key(ENV)
    entry = cache.store(ENV, key, cache.Kind.PLAIN, _assembly(tmp_path, '{"Resources": {}}'), "blog-prod")
    assert entry is not None
    destination = tmp_path / "private"
    assert cache.copy_out(entry, destination)
    assert (destination / "blog-prod.template.json").read_text(encoding="utf-8") == '{"Resources": {}}'
    assert (destination / "asset.abc" / "handler.py").exists()
    assert not (destination / cache.MANIFEST).exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "blog-prod.template.json").write_text('{"Resources": {"X": {}}}', encoding="utf-8"),
        lambda d: (d / "asset.abc" / "handler.py").unlink(),
        lambda d: (d / "extra.json").write_text("{}", encoding="utf-8"),
        lambda d: (d / cache.MANIFEST).unlink(),
        lambda d: (d / cache.MANIFEST).write_text("{not json", encoding="utf-8"),
    ],
    ids=["edited template", "missing file", "foreign file", "no manifest (half-written)", "bad manifest"],
)
def test_a_damaged_entry_is_never_used_and_is_removed(
    repo: Path, tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    key = cache.input_key(ENV)
    entry = cache.store(ENV, key, cache.Kind.GATED, _assembly(tmp_path), "blog-prod")
    assert entry is not None
    damage(entry.directory)
    assert cache.lookup(ENV, key, [cache.Kind.GATED]) is None
    assert not entry.directory.exists()
    assert cache.store(ENV, key, cache.Kind.GATED, _assembly(tmp_path), "blog-prod") is not None
    assert cache.lookup(ENV, key, [cache.Kind.GATED]) is not None


def test_an_entry_that_vanishes_while_copied_is_a_miss(repo: Path, tmp_path: Path) -> None:
    key = cache.input_key(ENV)
    entry = cache.store(ENV, key, cache.Kind.GATED, _assembly(tmp_path), "blog-prod")
    assert entry is not None
    shutil.rmtree(entry.directory)
    destination = tmp_path / "private"
    assert not cache.copy_out(entry, destination)
    assert not destination.exists()


def test_no_cache_neither_stores_nor_looks_up(repo: Path, tmp_path: Path) -> None:
    key = cache.input_key(ENV)
    assert cache.store(ENV, key, cache.Kind.GATED, _assembly(tmp_path / "first"), "blog-prod") is not None
    cache.disable()
    assert cache.lookup(ENV, key, [cache.Kind.GATED]) is None
    assert cache.store(ENV, key, cache.Kind.PLAIN, _assembly(tmp_path / "second"), "blog-prod") is None
    assert not (cache.root() / ENV / f"{key}-plain").exists()


def test_gate_results_belong_to_their_entry(repo: Path, tmp_path: Path) -> None:
    key = cache.input_key(ENV)
    entry = cache.store(ENV, key, cache.Kind.GATED, _assembly(tmp_path), "blog-prod")
    assert entry is not None and entry.gate_results() is None
    entry.attach_gate_results({"cfn-lint": {"failing": []}})
    found = cache.lookup(ENV, key, [cache.Kind.GATED])
    assert found is not None and found.gate_results() == {"cfn-lint": {"failing": []}}
    (entry.directory / cache.GATES).write_text(json.dumps({"key": "other", "results": {}}), encoding="utf-8")
    assert found.gate_results() is None


def test_only_the_newest_entries_of_an_environment_are_kept(repo: Path, tmp_path: Path) -> None:
    keys = [f"{n:064x}" for n in range(cache.KEEP_PER_ENV + 2)]
    for key in keys:
        assert cache.store(ENV, key, cache.Kind.PLAIN, _assembly(tmp_path), "blog-prod") is not None
    kept = [key for key in keys if cache.lookup(ENV, key, [cache.Kind.PLAIN]) is not None]
    assert kept == keys[-cache.KEEP_PER_ENV :]


def _store_many(cache_dir: str, repo_root: str, source: str, rounds: int) -> int:
    import os

    os.environ[cache.CACHE_DIR_VARIABLE] = cache_dir
    paths.REPO_ROOT = Path(repo_root)
    key = "f" * 64
    broken = 0
    for n in range(rounds):
        cache.store(ENV, key, cache.Kind.GATED, Path(source), "blog-prod")
        found = cache.lookup(ENV, key, [cache.Kind.GATED])
        # As the commands read an entry: copied out, never in place (another writer may replace it
        # meanwhile; then the copy reports a miss). A copy that succeeded must be whole.
        destination = Path(cache_dir).parent / f"copy-{os.getpid()}-{n}"
        if found is not None and cache.copy_out(found, destination):
            template = destination / "blog-prod.template.json"
            if not template.exists() or json.loads(template.read_text(encoding="utf-8")) != {}:
                broken += 1
            shutil.rmtree(destination)
    return broken


def test_concurrent_writers_and_readers_never_see_a_partial_entry(repo: Path, tmp_path: Path) -> None:
    source = _assembly(tmp_path)
    context = multiprocessing.get_context("spawn")
    args = (str(tmp_path / "cache"), str(repo), str(source), 15)
    with context.Pool(3) as pool:
        broken = pool.starmap(_store_many, [args] * 3)
    assert broken == [0, 0, 0]
    assert cache.lookup(ENV, "f" * 64, [cache.Kind.GATED]) is not None
    leftovers = [p.name for p in (tmp_path / "cache" / ENV).iterdir() if p.name.startswith(".")]
    assert leftovers == []
