"""The cfn-lint gate: one pass of cfn-lint, its matches sorted into acknowledged and failing as the
template's `cfn-lint` metadata (the acknowledgements) makes cfn-lint sort them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_rds as rds

from blog_infra.gates import GateResult
from blog_infra.gates.lint import cfn_lint_result
from infra.app import new_app
from infra.gates import apply_acknowledgements, parse_acknowledgements

ACKNOWLEDGEMENTS = """
[[ack]]
gate = "cfn-lint"
rule = "I3011"
resources = ["Db"]
reason = "A database of this test, acknowledged on purpose."

[[ack]]
gate = "cfn-lint"
rule = "W2501"
resources = ["*"]
reason = "The passwords of this test, acknowledged on purpose."
"""

pytestmark = pytest.mark.slow  # a synthesis and three passes of cfn-lint

OUTSIDE = "acknowledged outside infra/acknowledgements.toml: "


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], GateResult]:
    """Three databases without a replace policy and with a hard-coded password (I3011 and W2501 on
    each). The file acknowledges I3011 on Db and W2501 on every resource (the template's metadata);
    Stray carries an I3011 `ignore_checks` of its own, which the file does not hold."""
    app = new_app(str(tmp_path_factory.mktemp("lint")))
    stack = Stack(app, "blog-lint", env=Environment(account="123456789012", region="us-east-1"))
    for name in ("Db", "Other", "Stray"):
        database = rds.CfnDBInstance(
            stack,
            name,
            engine="postgres",
            db_instance_class="db.t4g.micro",
            allocated_storage="20",
            master_username="admin",
            master_user_password="hunter2hunter2",
        )
    database.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I3011"]}})
    applied = apply_acknowledgements(stack, "local", parse_acknowledgements(ACKNOWLEDGEMENTS))
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template, cfn_lint_result(template, applied, region="us-east-1")


def of_rules(findings: Any, *rules: str) -> set[tuple[str, str, int | None, bool]]:
    return {
        (f.rule, f.resource, f.acknowledgement, f.message.startswith(OUTSIDE))
        for f in findings
        if f.rule in rules
    }


def test_acknowledged_on_a_resource_on_every_resource_and_outside_the_file(
    linted: tuple[dict[str, Any], GateResult],
) -> None:
    # GIVEN I3011 acknowledged on Db, W2501 on every resource, and I3011 ignored on Stray by hand
    _, result = linted
    # WHEN the gate ran THEN each finding is acknowledged by its entry or failing
    assert of_rules(result.acknowledged, "I3011", "W2501") == {
        ("I3011", "Db", 1, False),
        ("W2501", "Db", 2, False),
        ("W2501", "Other", 2, False),
        ("W2501", "Stray", 2, False),
    }
    assert of_rules(result.failing, "I3011", "W2501") == {
        ("I3011", "Other", None, False),
        ("I3011", "Stray", None, True),
    }


def test_the_split_is_the_one_cfn_lint_makes_with_and_without_the_metadata(
    linted: tuple[dict[str, Any], GateResult],
) -> None:
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    template, result = linted
    config = ManualArgs(include_checks=["I"], regions=["us-east-1"])
    bare = json.loads(json.dumps(template))
    bare["Metadata"].pop("cfn-lint")
    for resource in bare["Resources"].values():
        resource.get("Metadata", {}).pop("cfn-lint", None)
    # WHEN cfn-lint itself lints the template as it is, and without the acknowledgements' metadata
    reported = {(m.rule.id, m.path[1]) for m in lint(json.dumps(template), config=config)}
    everything = {(m.rule.id, m.path[1]) for m in lint(json.dumps(bare), config=config)}
    # THEN what it reports is failing, and what the metadata hid is acknowledged or, when the file
    # does not hold it, failing as acknowledged outside the file
    assert reported and everything - reported
    assert {(f.rule, f.resource) for f in result.failing if not f.message.startswith(OUTSIDE)} == reported
    assert {(f.rule, f.resource) for f in result.acknowledged} | {
        (f.rule, f.resource) for f in result.failing if f.message.startswith(OUTSIDE)
    } == everything - reported
