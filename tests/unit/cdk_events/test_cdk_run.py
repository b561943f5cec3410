"""A CDK CLI run against the emulator is stopped as soon as the emulator's process has gone (the CLI
itself would retry the refused connection for about 40 s), and left alone while the emulator runs;
every run has a working directory of its own."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from blog_infra import cdk, paths
from blog_infra.target import Target

EVENT = (
    "blog-local | 1/80 | 4:05:06 AM | CREATE_IN_PROGRESS   | AWS::S3::Bucket                | "
    "Data/Raw/Resource (DataBucketRaw) "
)


@pytest.fixture
def fake_cdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "cdk"
    monkeypatch.setattr(paths, "CDK_BIN", script)
    monkeypatch.setattr(cdk, "EMULATOR_WATCH_INTERVAL_S", 0.01)
    return script


def write(script: Path, body: str) -> None:
    script.write_text(f"#!/bin/sh\necho '{EVENT}'\n{body}\n", encoding="utf-8")
    script.chmod(0o755)


def emulator_target(local_config: Any, monkeypatch: pytest.MonkeyPatch, *, exited: bool) -> Target:
    monkeypatch.setattr(Target, "emulator_exited", lambda self: exited)
    return Target(config=local_config, endpoint="http://127.0.0.1:9")


def test_the_cli_is_stopped_when_the_emulator_exits(
    fake_cdk: Path, local_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CLI that would wait ten minutes: only the watch can end it before the test's own timeout.
    write(fake_cdk, "exec sleep 600")
    events: list[cdk.Event] = []
    run = cdk.run_cdk(
        ["deploy"], emulator_target(local_config, monkeypatch, exited=True), on_event=events.append
    )
    assert run.returncode == -signal.SIGTERM
    assert [event.resource for event in events] == ["DataBucketRaw"]


def test_a_running_emulator_leaves_the_cli_to_finish(
    fake_cdk: Path, local_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(fake_cdk, "sleep 0.3\necho done\nexit 3")
    run = cdk.run_cdk(["deploy"], emulator_target(local_config, monkeypatch, exited=False))
    assert run.returncode == 3
    assert run.lines[-1] == "done"


def test_each_run_saves_its_context_lookups_in_a_directory_of_its_own(
    fake_cdk: Path, local_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a CLI that saves its lookups where the real one does (cdk.context.json in its working
    # directory) and says where that was
    write(fake_cdk, "pwd\necho '{\"availability-zones:account=1:region=r\": []}' > cdk.context.json")
    target = emulator_target(local_config, monkeypatch, exited=False)
    # WHEN it runs twice
    first, second = (cdk.run_cdk(["deploy"], target).lines[-1] for _ in range(2))
    # THEN neither ran in the repository, where every run would share (and tear) one file
    assert Path(first) != paths.REPO_ROOT and Path(second) != paths.REPO_ROOT
    assert not Path(first).is_relative_to(paths.REPO_ROOT)
    # AND each had a directory of its own, removed with everything it saved
    assert first != second
    assert not Path(first).exists() and not Path(second).exists()
