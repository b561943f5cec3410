"""Runs last (file order): `local down` destroys the platform and leaves nothing running."""

from __future__ import annotations

import pytest

from emulator import control
from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration


def test_down_destroys_the_stack_and_stops_the_emulator(platform: LocalPlatform) -> None:
    result = platform.cli("local", "down")
    assert "Destroyed blog-local" in result.stdout
    assert not control.status(platform.state_dir / "emulator").running
