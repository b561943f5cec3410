"""`cdk.out/<env>` is replaced by renames only, so that two commands writing the same environment at
once (two terminals running `make synth` and `make check`) both succeed and leave a whole assembly."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from blog_infra.synthesis import move_into_place

FILES = ("manifest.json", "blog-prod.template.json", "tree.json")


def _write_many(out: str, rounds: int) -> int:
    """Put `rounds` assemblies of this process in place; how many attempts raised."""
    failures = 0
    directory = Path(out) / "prod"
    for n in range(rounds):
        staging = Path(out) / f".staging-{os.getpid()}-{n}"
        staging.mkdir()
        for name in FILES:
            (staging / name).write_text(f"{os.getpid()}-{n}", encoding="utf-8")
        try:
            move_into_place(staging, directory)
        except Exception:
            failures += 1
    return failures


def test_concurrent_writers_each_succeed_and_leave_one_whole_assembly(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        failures = pool.starmap(_write_many, [(str(tmp_path), 40)] * 3)
    assert failures == [0, 0, 0]
    directory = tmp_path / "prod"
    contents = {(directory / name).read_text(encoding="utf-8") for name in FILES}
    assert len(contents) == 1, contents
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prod"]


def test_a_failed_move_leaves_the_previous_assembly(tmp_path: Path) -> None:
    directory = tmp_path / "prod"
    directory.mkdir()
    (directory / "manifest.json").write_text("previous", encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        move_into_place(tmp_path / "missing", directory)
    assert (directory / "manifest.json").read_text(encoding="utf-8") == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prod"]
