"""One embedded local AWS for the whole emulator test session."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import control
from emulator.iam_enforcement import MODE_PATH
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


def _iam_mode(emulator: Emulator, mode: str | None = None) -> str:
    request = urllib.request.Request(
        emulator.endpoint + MODE_PATH,
        data=None if mode is None else json.dumps({"mode": mode}).encode(),
        method="GET" if mode is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.loads(answer.read())["mode"])


@pytest.fixture
def set_mode(emulator: Emulator) -> Iterator[Callable[[str], None]]:
    """Switch the shared emulator's IAM mode for one test; the mode it had is restored afterwards."""
    before = _iam_mode(emulator)

    def switch(mode: str) -> None:
        assert _iam_mode(emulator, mode) == mode

    yield switch
    switch(before)


@pytest.fixture(autouse=True)
def _no_task_definition_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Deregister the task definitions a test registered on the session's emulator: a test that
    counts the account's active task definitions must not see another test's."""
    if "emulator" not in request.fixturenames:
        yield
        return
    emulator: Emulator = request.getfixturevalue("emulator")
    ecs = emulator.client("ecs")

    def active() -> set[str]:
        return set(ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"])

    before = active()
    yield
    for arn in active() - before:
        ecs.deregister_task_definition(taskDefinition=arn)
