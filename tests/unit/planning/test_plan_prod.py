"""The plan of a real change to prod's synthesized template: a new portal image tag."""

from __future__ import annotations

from typing import Any

from blog_infra.markdown import plan_markdown
from blog_infra.planning import Action, Replacement, compute_plan
from infra.config import EnvConfig


def _with_image_tag(config: EnvConfig, tag: str) -> EnvConfig:
    return config.model_copy(update={"backstage": config.backstage.model_copy(update={"image_tag": tag})})


def test_a_new_portal_image_replaces_the_task_definition_and_updates_the_service(
    prod_config: EnvConfig, prod_template: Any
) -> None:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    # GIVEN prod as synthesized for this session, and prod with another portal image tag
    bumped = _with_image_tag(prod_config, prod_config.backstage.image_tag + "-next")
    _, stack = build_app(bumped)
    # WHEN the second is planned over the first
    plan = compute_plan(prod_template.to_json(), Template.from_stack(stack).to_json(), region="us-east-1")
    # THEN the task definition (immutable) is replaced, and the service that names it is updated in
    # place to use the new one: two changes, nothing stateful
    service, task_definition = plan.changes
    assert service.logical_id.startswith("BackstageService")
    assert (service.resource_type, service.action, service.replacement, service.properties) == (
        "AWS::ECS::Service",
        Action.MODIFY,
        Replacement.NO,
        ("TaskDefinition",),
    )
    assert task_definition.logical_id.startswith("BackstageTaskDefinition")
    assert (task_definition.resource_type, task_definition.replacement, task_definition.properties) == (
        "AWS::ECS::TaskDefinition",
        Replacement.YES,
        ("ContainerDefinitions",),
    )
    assert plan.counts() == {"add": 0, "modify": 2, "remove": 0, "replace": 1, "dangerous": 0}
    markdown = plan_markdown(plan, stack="blog-prod", target="AWS")
    assert "DANGER" not in markdown
    assert f"| modify | `{service.logical_id}` | AWS::ECS::Service |  | `TaskDefinition` |" in markdown
