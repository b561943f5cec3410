"""The prod platform as the docs read it, synthesized once for the docs tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def docs_platform() -> Any:
    from blog_infra.docs.platform import synthesize

    return synthesize()
