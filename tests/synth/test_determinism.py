"""Two synths of the same commit produce byte-identical templates and assets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from infra.app import build_app
from infra.config import load_config


def fingerprint(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name not in {"tree.json", "validation-report.json"}
    }


@pytest.mark.slow  # two whole-app syntheses in fresh apps: about 5 s
def test_two_synths_are_byte_identical(tmp_path: Path) -> None:
    config = load_config("prod")
    prints = []
    for run in ("first", "second"):
        app, _ = build_app(config, outdir=str(tmp_path / run))
        app.synth()
        prints.append(fingerprint(tmp_path / run))
    assert prints[0] == prints[1]
    assert any(name.endswith(".template.json") for name in prints[0])
