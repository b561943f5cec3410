"""The committed generated docs match the code (what `make docs-check` checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blog_infra import docs
from blog_infra.docs import diagram
from blog_infra.paths import REPO_ROOT


def test_every_generated_file_is_current(docs_platform: Any) -> None:
    # GIVEN the code and the committed docs
    # WHEN the docs are generated again and compared, writing nothing
    stale = docs.check(REPO_ROOT, docs_platform)
    # THEN no generated file differs
    assert not stale, "out of date, run `make docs`: " + ", ".join(f"{s.path} ({s.reason})" for s in stale)


def test_the_check_covers_every_kind_of_generated_file(docs_platform: Any) -> None:
    # GIVEN the list of generated files
    paths = {str(item.path) for item in docs.generated_files(REPO_ROOT, docs_platform)}
    # THEN it holds the reference pages, every module README, the catalog and the diagram source
    assert {"docs/ownership.md", "docs/outputs.md", "docs/cli.md", "catalog-info.yaml"} <= paths
    assert "docs/architecture.dot" in paths
    assert "infra/modules/core/network/README.md" in paths
    assert "infra/modules/apps/ork_processor/README.md" in paths


def test_generation_is_deterministic(docs_platform: Any) -> None:
    # GIVEN two generations from the same platform
    first = [(g.path, g.content(None)) for g in docs.generated_files(REPO_ROOT, docs_platform)]
    second = [(g.path, g.content(None)) for g in docs.generated_files(REPO_ROOT, docs_platform)]
    # THEN they are identical (node ids, icon paths and orders do not vary)
    assert first == second
    dot = dict(first)[docs.DOT]
    assert str(REPO_ROOT) not in dot and "site-packages" not in dot


def test_rendering_without_graphviz_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a machine without Graphviz's dot
    monkeypatch.setattr(diagram.shutil, "which", lambda _name: None)
    # WHEN the images are rendered THEN the error says how to get it, and nothing is written
    with pytest.raises(RuntimeError, match="make docs"):
        diagram.render("digraph {}", tmp_path / "a.svg", tmp_path / "a.png")
    assert not list(tmp_path.iterdir())
