"""Blast radius: one setting changed, and only the resources of the application it belongs to change.

Each case synthesizes the local environment with one change and compares the template with the
session's synthesis of the unchanged environment, through the same plan a deploy would compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from blog_infra.planning import Plan, compute_plan
from infra.config import EnvConfig

# A whole-app synthesis of a changed configuration per case (2-3 s each): out of make test-fast.
pytestmark = pytest.mark.slow


def _nested(config: EnvConfig, path: str, value: Any) -> EnvConfig:
    """`config` with the setting at dotted `path` replaced (pydantic models are frozen)."""
    head, _, rest = path.partition(".")
    if not rest:
        return config.model_copy(update={head: value})
    return config.model_copy(update={head: _nested(getattr(config, head), rest, value)})


def _synthesized(config: EnvConfig) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    _, stack = build_app(config)
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


CASES: list[tuple[str, Callable[[EnvConfig], EnvConfig], tuple[str, ...], tuple[str, ...]]] = [
    (
        "backstage image tag",
        lambda c: _nested(c, "backstage.image_tag", "2026.11.29-1"),
        ("BackstageTaskDefinition", "BackstageService"),
        ("BackstageTaskDefinition",),
    ),
    (
        "prefect api scaling bounds",
        lambda c: _nested(
            c, "prefect.server", c.prefect.server.model_copy(update={"min_capacity": 2, "max_capacity": 4})
        ),
        ("PrefectApiService",),
        ("PrefectApiServiceTaskCountTarget",),
    ),
    (
        "ork processor reserved concurrency",
        lambda c: _nested(c, "lambda_concurrency.ork_processor", c.lambda_concurrency.ork_processor + 1),
        ("OrkProcessorFunction",),
        ("OrkProcessorFunction",),
    ),
]


@pytest.fixture(scope="module")
def base(local_template: Any) -> dict[str, Any]:
    template: dict[str, Any] = local_template.to_json()
    return template


@pytest.mark.parametrize(("name", "change", "allowed", "required"), CASES, ids=[c[0] for c in CASES])
def test_one_change_touches_only_its_application(
    local_config: EnvConfig,
    base: dict[str, Any],
    name: str,
    change: Callable[[EnvConfig], EnvConfig],
    allowed: tuple[str, ...],
    required: tuple[str, ...],
) -> None:
    # GIVEN the local environment with one setting changed
    changed = change(local_config)
    assert changed != local_config, f"{name}: the change changed nothing"
    # WHEN its template is planned against the unchanged one
    plan: Plan = compute_plan(base, _synthesized(changed), region=local_config.region)
    touched = {c.logical_id for c in plan.changes}
    # THEN only that application's resources change, and no stateful resource at all
    assert all(c.logical_id.startswith(allowed) for c in plan.changes), (
        f"{name} also changes {sorted(touched)}"
    )
    assert all(any(t.startswith(r) for t in touched) for r in required), f"{name} changes {sorted(touched)}"
    assert not [c.logical_id for c in plan.changes if c.stateful], f"{name} changes stateful resources"
    assert not plan.outputs_changed
