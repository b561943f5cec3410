"""infra/acknowledgements.toml: every entry valid, with a reason of at least one full sentence."""

from __future__ import annotations

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_s3 as s3

from infra.app import new_app
from infra.config import available_envs
from infra.gates import (
    AcknowledgementError,
    Gate,
    guard_rule_names,
    load_acknowledgements,
    parse_acknowledgements,
    plan_acknowledgements,
)

VALID = """
[[ack]]
gate = "cdk-nag"
rule = "AwsSolutions-S1"
resources = ["Data/Cached"]
reason = "The bucket is the end of the logging chain."
"""


def entry(**fields: object) -> str:
    values = {
        "gate": '"cdk-nag"',
        "rule": '"AwsSolutions-S1"',
        "resources": '["Data/Cached"]',
        "reason": '"The bucket is the end of the logging chain."',
    }
    values.update({key: str(value) for key, value in fields.items()})
    return "[[ack]]\n" + "".join(f"{key} = {value}\n" for key, value in values.items() if value != "DROP")


def test_the_repository_file_is_valid_and_every_reason_is_a_sentence() -> None:
    acks = load_acknowledgements()
    assert len(acks) >= 20
    for ack in acks:
        assert len(ack.reason) >= 20 and ack.reason.endswith("."), ack.label


def test_a_valid_entry_parses() -> None:
    (ack,) = parse_acknowledgements(VALID)
    assert (ack.number, ack.gate, ack.rule, ack.resources) == (
        1,
        Gate.CDK_NAG,
        "AwsSolutions-S1",
        ("Data/Cached",),
    )
    assert ack.rule_ids() == ("AwsSolutions-S1",)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": "DROP"}, "missing reason"),
        ({"reason": '"Too short."'}, "full sentence"),
        ({"reason": '"A reason that never ends with a period"'}, "full sentence"),
        ({"reason": '""'}, "full sentence"),
        ({"gate": '"trivy"'}, "gate 'trivy' is not one of"),
        ({"rule": '"S1"'}, "is not a cdk-nag rule id"),
        ({"gate": '"cfn-guard"', "rule": '"CT.S3.PR.99"'}, "not one of the Control Tower controls"),
        ({"gate": '"checkov"', "rule": '"AwsSolutions-S1"'}, "is not a checkov rule id"),
        ({"resources": "[]"}, "at least one resource"),
        ({"resources": '["*", "Data/Raw"]'}, "cannot be combined"),
        ({"gate": '"checkov"', "rule": '"CKV_AWS_18"', "resources": '["*"]'}, "must name their resources"),
        (
            {"gate": '"cfn-lint"', "rule": '"W3005"', "applies_to": '["Action::s3:*"]'},
            "applies_to is for cdk-nag",
        ),
        ({"suppress": "true"}, "unknown keys suppress"),
        ({"envs": '"local"'}, "envs must be a list"),
    ],
)
def test_an_invalid_entry_is_refused_with_its_number(fields: dict[str, str], message: str) -> None:
    with pytest.raises(AcknowledgementError, match=message) as error:
        parse_acknowledgements(VALID + entry(**fields))
    assert "entry #2" in str(error.value)


def test_two_entries_for_the_same_finding_are_refused() -> None:
    with pytest.raises(AcknowledgementError, match="both acknowledge AwsSolutions-S1 on Data/Cached"):
        parse_acknowledgements(VALID + entry())


def test_invalid_toml_and_unknown_tables_are_refused() -> None:
    with pytest.raises(AcknowledgementError, match="not valid TOML"):
        parse_acknowledgements("[[ack]\n")
    with pytest.raises(AcknowledgementError, match="unknown top-level keys"):
        parse_acknowledgements("[suppressions]\nall = true\n")


def test_control_tower_ids_map_to_the_guard_rules_the_validator_ships() -> None:
    names = guard_rule_names()
    assert names["CT.S3.PR.2"] == "s3_bucket_logging_enabled_check"
    assert names["CT.NETWORK-FIREWALL.PR.1"]
    assert len(names) >= 200


def test_applies_to_placeholders_become_the_stacks_account_region_and_name() -> None:
    (ack,) = parse_acknowledgements(
        entry(
            rule='"AwsSolutions-IAM5"',
            applies_to='["Resource::arn:<AWS::Partition>:ecs:{region}:{account}:cluster/{stack}*"]',
        )
    )
    stack = Stack(new_app(), "blog-test", env=Environment(account="123456789012", region="eu-west-1"))
    assert ack.rule_ids(stack) == (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:eu-west-1:123456789012:cluster/blog-test*]",
    )


def test_env_placeholder_becomes_the_environment_name() -> None:
    # GIVEN an entry that names a secret path through {env}
    (ack,) = parse_acknowledgements(
        entry(
            rule='"AwsSolutions-IAM5"',
            applies_to='["Resource::arn:<AWS::Partition>:secretsmanager:{region}:{account}:secret:blog/{env}/x/*"]',
            resources='["Cached"]',
        )
    )
    stack = Stack(new_app(), "blog-staging", env=Environment(account="123456789012", region="us-east-1"))
    s3.CfnBucket(stack, "Cached")
    # WHEN it is planned in the staging environment
    plan = plan_acknowledgements(stack, "staging", (ack,))
    # THEN the finding id it acknowledges names staging's path
    assert plan.rule_ids[1] == (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:us-east-1:123456789012:"
        "secret:blog/staging/x/*]",
    )


def test_no_entry_names_an_environment_literally() -> None:
    # GIVEN the repository's acknowledgements and the shipped environments
    # WHEN their findings ids are read unsubstituted
    # THEN none names an environment: a new environment needs no edit here (`{env}` instead)
    for ack in load_acknowledgements():
        for item in ack.applies_to:
            for env in available_envs():
                assert f"/{env}/" not in item and f"-{env}" not in item, f"{ack.label}: {item} names {env}"


def test_resources_match_by_path_glob_parent_path_or_logical_id() -> None:
    (ack,) = parse_acknowledgements(entry(resources='["Edge/*Logs", "Data/Cached", "PrefectRedis39DB7DC6"]'))
    assert ack.matches("Edge/CloudFrontLogs/Resource", "X")
    assert ack.matches("Data/Cached/Resource", "X")
    assert ack.matches("Prefect/Redis", "PrefectRedis39DB7DC6")
    assert not ack.matches("Data/CachedCopy/Resource", "X")
    assert not ack.matches("Data/Raw/Resource", "DataBucketRaw")


def test_overlapping_globs_for_the_same_rule_are_refused_when_applied() -> None:
    stack = Stack(new_app(), "blog-test", env=Environment(account="123456789012", region="us-east-1"))
    s3.CfnBucket(stack, "Cached")
    acks = parse_acknowledgements(entry(resources='["Cached"]') + entry(resources='["Cach*"]'))
    with pytest.raises(AcknowledgementError, match="#1 cdk-nag AwsSolutions-S1 and #2"):
        plan_acknowledgements(stack, "local", acks)


def test_an_entry_holds_only_in_its_environments() -> None:
    (ack,) = parse_acknowledgements(entry(envs='["local"]'))
    assert ack.holds_in("local") and not ack.holds_in("prod")
    stack = Stack(new_app(), "blog-test", env=Environment(account="123456789012", region="us-east-1"))
    s3.CfnBucket(stack, "Data")
    assert plan_acknowledgements(stack, "prod", (ack,)).active == ()
