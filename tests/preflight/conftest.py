"""Emulators of several account shapes, and the local environment's synthesized template."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blog_infra.target import Target
from emulator import control
from emulator.shape import EmulatorShape
from infra.config import EnvConfig


@pytest.fixture(scope="session")
def local_synthesized(local_config: EnvConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The local environment's template, synthesized for real (without the gates)."""
    from blog_infra.synthesis import synth

    assembly = synth(local_config, tmp_path_factory.mktemp("local-assembly"), gates=False, validate=False)
    return assembly.template()


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[EmulatorShape | None], Path]]:
    """Start (once per shape and module) an emulator of that account shape; its state dir."""
    started: dict[str, Path] = {}

    def start(shape: EmulatorShape | None = None) -> Path:
        key = shape.to_json() if shape else ""
        if key not in started:
            state_dir = tmp_path_factory.mktemp("emulator")
            status = control.start(state_dir, shape)
            assert status.running and status.endpoint
            started[key] = state_dir
        return started[key]

    try:
        yield start
    finally:
        for state_dir in started.values():
            control.stop(state_dir)


def target_of(config: EnvConfig, state_dir: Path) -> Target:
    """`config` deployed to the emulator of `state_dir`, as `blog_infra.target.resolve` builds it."""
    status = control.status(state_dir)
    assert status.endpoint
    return Target(
        config=config,
        endpoint=status.endpoint,
        env=control.client_environment(status.endpoint, config.region),
    )
