"""A deliberately insecure change is caught by each of the five gates, and stops a synthesis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3

from blog_infra.errors import CliError
from blog_infra.gates.runner import EnvironmentReport, gate_results
from blog_infra.gates.synthesized import refuse_failing, synthesize
from infra.app import new_app
from infra.gates import apply_acknowledgements, enable_gates

pytestmark = pytest.mark.slow  # the gates, checkov included, on a synthesized insecure stack


def insecure_resources(stack: Stack) -> None:
    loose = s3.CfnBucket(stack, "Loose")
    iam.CfnManagedPolicy(
        stack,
        "Reader",
        policy_document={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": loose.attr_arn}
            ],
        },
    )
    rds.CfnDBInstance(
        stack,
        "Db",
        engine="postgres",
        db_instance_class="db.t4g.micro",
        allocated_storage="20",
        master_username="admin",
        master_user_password="hunter2hunter2",
    )


@pytest.fixture(scope="module")
def insecure(tmp_path_factory: pytest.TempPathFactory, checkov_bin: Path) -> EnvironmentReport:
    """A throwaway stack with a bucket without encryption, public access block, policy, logging or
    versioning, a policy granting an object action on that bucket's ARN, and a database instance
    with a hard-coded password and no deletion policy. The Control Tower controls also run as the
    validator's plugin in its synthesis, for the comparison with the template pass."""
    outdir = tmp_path_factory.mktemp("insecure")
    app = new_app(str(outdir))
    enable_gates(app, guard_plugin=True)
    stack = Stack(app, "blog-insecure", env=Environment(account="123456789012", region="us-east-1"))
    insecure_resources(stack)
    acknowledgements = apply_acknowledgements(stack, "local", ())
    gated = synthesize(app, stack, acknowledgements, outdir)
    return gate_results(gated, region="us-east-1", checkov_bin=checkov_bin)


@pytest.mark.parametrize(
    ("gate", "rule"),
    [
        ("cdk-nag", "AwsSolutions-S1"),
        ("cdk-nag", "AwsSolutions-S10"),
        ("cfn-guard", "CT.S3.PR.1"),
        ("cfn-guard", "CT.S3.PR.2"),
        ("cfn-lint", "W2501"),
        ("cfn-lint", "I3011"),
        ("checkov", "CKV_AWS_16"),
        ("checkov", "CKV_AWS_18"),
        ("checkov", "CKV_AWS_53"),
        ("iam-reference", "IAM-RESOURCE-TYPE[s3:GetObject]"),
    ],
)
def test_each_gate_reports_the_insecure_bucket(insecure: EnvironmentReport, gate: str, rule: str) -> None:
    # GIVEN a bucket without encryption, public access block or logging
    # WHEN the five gates run on it THEN each reports it as failing
    failing = {(f.gate, f.rule) for f in insecure.failing}
    assert (gate, rule) in failing, sorted(failing)


def test_the_control_tower_controls_on_the_template_fail_what_the_plugin_fails(
    insecure: EnvironmentReport,
) -> None:
    from blog_infra.gates.plugins import plugin_guard_result

    # GIVEN the insecure stack's synthesis, with the validator as a plugin in it
    # WHEN the controls ran on its template THEN they fail exactly what the plugin failed
    from_template = next(r for r in insecure.results if r.gate == "cfn-guard")
    assert {"CT.S3.PR.1", "CT.RDS.PR.1"} <= {f.rule for f in from_template.failing}
    assert from_template.to_json() == plugin_guard_result(insecure.gated).to_json()


def test_the_synthesis_refuses_the_insecure_change(insecure: EnvironmentReport) -> None:
    # GIVEN the validation plugins found something WHEN a synth or deploy would go on
    assert not insecure.gated.passed
    # THEN it stops with one line naming the findings and the way out
    with pytest.raises(CliError) as error:
        refuse_failing(insecure.gated)
    message = str(error.value)
    assert "not acknowledged in local" in message and "\n" not in message
    assert "AwsSolutions-" in message and "blog-infra check --env local" in message


def test_an_acknowledgement_turns_a_failing_finding_into_an_acknowledged_one(
    tmp_path: Path, checkov_bin: Path
) -> None:
    from infra.gates import parse_acknowledgements

    acks = parse_acknowledgements(
        "\n".join(
            f'[[ack]]\ngate = "{gate}"\nrule = "{rule}"\nresources = ["Loose"]\n'
            f'reason = "A throwaway bucket of this test, acknowledged on purpose."\n'
            for gate, rule in (
                ("cdk-nag", "AwsSolutions-S1"),
                ("cfn-guard", "CT.S3.PR.2"),
                ("checkov", "CKV_AWS_18"),
            )
        )
        + '[[ack]]\ngate = "cfn-lint"\nrule = "I3011"\nresources = ["Db"]\n'
        'reason = "A throwaway bucket of this test, acknowledged on purpose."\n'
        '[[ack]]\ngate = "iam-reference"\nrule = "IAM-RESOURCE-TYPE"\napplies_to = ["s3:GetObject"]\n'
        'resources = ["Reader"]\nreason = "A throwaway policy of this test, acknowledged on purpose."\n'
    )
    app = new_app(str(tmp_path))
    enable_gates(app, guard_plugin=True)
    stack = Stack(app, "blog-insecure", env=Environment(account="123456789012", region="us-east-1"))
    insecure_resources(stack)
    report = gate_results(
        synthesize(app, stack, apply_acknowledgements(stack, "local", acks), tmp_path),
        region="us-east-1",
        checkov_bin=checkov_bin,
    )
    acknowledged: dict[tuple[str, str], Any] = {
        (f.gate, f.rule): f.acknowledgement for r in report.results for f in r.acknowledged
    }
    assert acknowledged == {
        ("cdk-nag", "AwsSolutions-S1"): 1,
        ("cfn-guard", "CT.S3.PR.2"): 2,
        ("checkov", "CKV_AWS_18"): 3,
        ("cfn-lint", "I3011"): 4,
        ("iam-reference", "IAM-RESOURCE-TYPE[s3:GetObject]"): 5,
    }
    assert not {(f.gate, f.rule) for f in report.failing} & set(acknowledged)
    # AND the Control Tower controls on the template acknowledge and fail what the plugin does
    from blog_infra.gates.plugins import plugin_guard_result

    from_template = next(r for r in report.results if r.gate == "cfn-guard")
    assert report.gated is not None
    assert from_template.to_json() == plugin_guard_result(report.gated).to_json()
