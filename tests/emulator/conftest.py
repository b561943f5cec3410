"""One embedded local AWS for the whole emulator test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import control
from tests.emulator.emulator_testlib import Emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir = tmp_path_factory.mktemp("emulator-state")
    status = control.start(state_dir)
    assert status.running and status.endpoint
    try:
        yield Emulator(state_dir=state_dir, endpoint=status.endpoint, log_path=status.log_path)
    finally:
        control.stop(state_dir)


@pytest.fixture
def clean_log(emulator: Emulator) -> Iterator[None]:
    """Fail the test if the emulator logged an HTTP 500 or a traceback while it ran."""
    offset = control.log_size(emulator.log_path)
    yield
    assert control.log_problems(emulator.log_path, offset) == []


@pytest.fixture
def cfn(emulator: Emulator, clean_log: None) -> Any:
    return emulator.client("cloudformation")


@pytest.fixture
def aws(emulator: Emulator, clean_log: None) -> Callable[[str], Any]:
    client: Callable[[str], Any] = emulator.client
    return client
