"""The whole platform's templates: prod, local, and prod under the lean profile."""

from __future__ import annotations

from typing import Any

import pytest

ENVIRONMENTS = ("prod", "local", "lean")


@pytest.fixture(scope="session")
def platform_templates(synthesized: dict[str, Any], lean_prod_template: dict[str, Any]) -> dict[str, Any]:
    return {
        "prod": synthesized["prod"].to_json(),
        "local": synthesized["local"].to_json(),
        "lean": lean_prod_template,
    }
