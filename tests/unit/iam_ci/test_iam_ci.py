"""core/iam_ci: CircleCI and Vercel reach AWS only through OIDC roles with tightly pinned trust."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from infra.modules.core.iam_ci.construct import CiIdentities, CiIdentitiesProps
from tests.unit.helpers import new_stack

ACCOUNT = "123456789012"
ORG = "3f9c1a2e-8b7d-4c6e-9a1f-0e2d3c4b5a69"
PROJECT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CIRCLECI = f"oidc.circleci.com/org/{ORG}"
VERCEL = "oidc.vercel.com/rocketclub"


def _props(**changes: Any) -> CiIdentitiesProps:
    values: dict[str, Any] = {
        "circleci_org_id": ORG,
        "circleci_project_id": PROJECT,
        "vercel_team_slug": "rocketclub",
        "vercel_project": "blog-code",
        "role_name_prefix": "blog-test",
    } | changes
    return CiIdentitiesProps(**values)


@pytest.fixture(scope="module")
def template() -> Template:
    stack = new_stack()
    design = s3.Bucket(stack, "DesignFiles")
    clean = s3.Bucket(stack, "Clean")
    CiIdentities(
        stack,
        "Ci",
        props=_props(
            frontend_read=((design, "designs/"), (clean, "public/")),
            verified_buckets=(design, clean),
            bootstrap_regions=("eu-west-1", "us-east-1"),
            circleci_vcs_origin="github.com/rocketclub/blog_infra",
        ),
    )
    return Template.from_stack(stack)


def _role(template: Template, suffix: str) -> tuple[str, Mapping[str, Any]]:
    roles = template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": f"blog-test-{suffix}"}})
    assert len(roles) == 1, f"expected one role blog-test-{suffix}"
    return next(iter(roles.items()))


def _trust(template: Template, suffix: str) -> dict[str, Any]:
    (statement,) = _role(template, suffix)[1]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return statement  # type: ignore[no-any-return]


def _statements(template: Template, suffix: str) -> list[dict[str, Any]]:
    logical, role = _role(template, suffix)
    found: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": logical} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    managed = template.find_resources("AWS::IAM::ManagedPolicy")
    for reference in role["Properties"].get("ManagedPolicyArns", []):
        found.extend(managed[reference["Ref"]]["Properties"]["PolicyDocument"]["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _iam_role_arn(name: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{ACCOUNT}:role/{name}"]]}


def test_providers_are_native_iam_oidc_providers(template: Template) -> None:
    # GIVEN the identities  THEN both providers are AWS::IAM::OIDCProvider, not the custom-resource kind
    template.resource_count_is("AWS::IAM::OIDCProvider", 2)
    template.resource_count_is("Custom::AWSCDKOpenIdConnectProvider", 0)
    template.has_resource_properties(
        "AWS::IAM::OIDCProvider", {"Url": f"https://{CIRCLECI}", "ClientIdList": [ORG]}
    )
    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {"Url": f"https://{VERCEL}", "ClientIdList": ["https://vercel.com/rocketclub"]},
    )


@pytest.mark.parametrize("suffix", ["ci-plan", "ci-deploy"])
def test_circleci_roles_trust_the_org_audience_and_the_project(template: Template, suffix: str) -> None:
    statement = _trust(template, suffix)
    provider = next(
        iter(template.find_resources("AWS::IAM::OIDCProvider", {"Properties": {"ClientIdList": [ORG]}}))
    )
    assert statement["Principal"] == {"Federated": {"Ref": provider}}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {f"{CIRCLECI}:aud": ORG}
    assert statement["Condition"]["StringLike"][f"{CIRCLECI}:sub"].startswith(
        f"org/{ORG}/project/{PROJECT}/user/"
    )


def test_plan_role_accepts_any_branch_of_the_project(template: Template) -> None:
    condition = _trust(template, "ci-plan")["Condition"]
    assert condition["StringLike"] == {f"{CIRCLECI}:sub": f"org/{ORG}/project/{PROJECT}/user/*"}
    assert set(condition) == {"StringEquals", "StringLike"}


def test_deploy_role_is_restricted_to_the_main_branch_of_the_repository(template: Template) -> None:
    condition = _trust(template, "ci-deploy")["Condition"]
    assert condition["StringLike"] == {
        f"{CIRCLECI}:sub": (
            f"org/{ORG}/project/{PROJECT}/user/*/vcs-origin/github.com/rocketclub/blog_infra/vcs-ref/refs/heads/main"
        )
    }
    # A branch whose name embeds `/vcs-ref/refs/heads/main` cannot satisfy the wildcard.
    assert condition["StringNotLike"] == {f"{CIRCLECI}:sub": "*/vcs-ref/*/vcs-ref/*"}


@pytest.mark.parametrize("suffix", ["ci-plan", "ci-deploy", "frontend"])
def test_sessions_last_at_most_an_hour(template: Template, suffix: str) -> None:
    assert _role(template, suffix)[1]["Properties"]["MaxSessionDuration"] == 3600


def test_deploy_role_may_only_assume_the_cdk_bootstrap_roles(template: Template) -> None:
    # GIVEN the deploy role WHEN its statements are read THEN the only assumption is of the bootstrap roles
    # and everything else it may do is read (the stack and the bootstrap version, to plan before deploying)
    statements = _statements(template, "ci-deploy")
    assumes = [s for s in statements if "sts:AssumeRole" in _actions(s)]
    (statement,) = assumes
    others = [a for s in statements if s is not statement for a in _actions(s)]
    assert others and all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in others), others
    assert sorted(_actions(statement)) == ["sts:AssumeRole", "sts:TagSession"]
    assert sorted(_resources(statement), key=str) == sorted(
        [
            _iam_role_arn(f"cdk-hnb659fds-{kind}-{ACCOUNT}-{region}")
            for kind in ("deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role")
            for region in ("eu-west-1", "us-east-1")
        ],
        key=str,
    )
    assert "ManagedPolicyArns" not in _role(template, "ci-deploy")[1]["Properties"]


def test_deploy_role_may_call_every_api_preflight_reads(template: Template) -> None:
    from blog_infra.preflight import CHECKS

    # GIVEN the AWS APIs each preflight check reads (deploy runs preflight with the deploy role's own
    # credentials), and the stack listing that finds the deployed functions
    apis = {api for _, named in CHECKS.values() for api in named.split(", ") if ":" in api}
    apis.add("cloudformation:ListStackResources")
    # WHEN the deploy role's statements are read THEN it may call each of them
    allowed = {a for s in _statements(template, "ci-deploy") for a in _actions(s)}
    assert apis and apis <= allowed, sorted(apis - allowed)


def test_plan_role_assumes_only_the_lookup_role(template: Template) -> None:
    assumes = [s for s in _statements(template, "ci-plan") if "sts:AssumeRole" in _actions(s)]
    assert len(assumes) == 1
    assert sorted(_resources(assumes[0]), key=str) == sorted(
        [
            _iam_role_arn(f"cdk-hnb659fds-lookup-role-{ACCOUNT}-{region}")
            for region in ("eu-west-1", "us-east-1")
        ],
        key=str,
    )


def test_plan_role_reads_the_bootstrap_version_and_stacks(template: Template) -> None:
    statements = {s.get("Sid"): s for s in _statements(template, "ci-plan")}
    assert statements["ReadBootstrapVersion"]["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":ssm:*:{ACCOUNT}:parameter/cdk-bootstrap/hnb659fds/*"],
        ]
    }
    assert statements["ReadStacks"]["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":cloudformation:*:{ACCOUNT}:stack/Test*/*"]]
    }
    assert all(
        a.split(":")[1].startswith(("Describe", "Get", "List")) for a in _actions(statements["ReadStacks"])
    )


def test_verify_policy_is_attached_to_the_plan_role_and_reads_no_data(template: Template) -> None:
    (managed,) = template.find_resources("AWS::IAM::ManagedPolicy")
    assert _role(template, "ci-plan")[1]["Properties"]["ManagedPolicyArns"] == [{"Ref": managed}]
    statements = template.find_resources("AWS::IAM::ManagedPolicy")[managed]["Properties"]["PolicyDocument"]
    actions = {a for s in statements["Statement"] for a in _actions(s)}
    assert {
        "secretsmanager:DescribeSecret",
        "secretsmanager:ListSecrets",
        "cloudformation:DetectStackDrift",
    } <= actions
    assert not actions & {
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "kms:Decrypt",
    }
    assert all(a.split(":")[1].startswith(("Describe", "Detect", "Get", "List")) for a in actions), actions
    contract = next(s for s in statements["Statement"] if s.get("Sid") == "ContractParameters")
    assert contract["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":ssm:us-east-1:{ACCOUNT}:parameter/blog/*"]]
    }


def test_verify_reads_bucket_configuration_only_of_the_listed_buckets(template: Template) -> None:
    statements = template.find_resources("AWS::IAM::ManagedPolicy")
    (policy,) = statements.values()
    bucket_reads = next(
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "BucketConfiguration"
    )
    buckets = sorted(template.find_resources("AWS::S3::Bucket"))
    assert sorted(_resources(bucket_reads), key=str) == sorted(
        [{"Fn::GetAtt": [b, "Arn"]} for b in buckets], key=str
    )


def test_frontend_role_trusts_the_vercel_project_environment(template: Template) -> None:
    statement = _trust(template, "frontend")
    provider = next(
        iter(template.find_resources("AWS::IAM::OIDCProvider", {"Properties": {"Url": f"https://{VERCEL}"}}))
    )
    assert statement["Principal"] == {"Federated": {"Ref": provider}}
    assert statement["Condition"] == {
        "StringEquals": {
            f"{VERCEL}:aud": "https://vercel.com/rocketclub",
            f"{VERCEL}:sub": "owner:rocketclub:project:blog-code:environment:production",
        }
    }


def test_frontend_reads_only_objects_under_its_prefixes(template: Template) -> None:
    # GIVEN (design-files, designs/) and (clean, public/)  THEN s3:GetObject on exactly those object prefixes
    statements = _statements(template, "frontend")
    assert {a for s in statements for a in _actions(s)} == {"s3:GetObject"}
    granted = {
        (r["Fn::Join"][1][0]["Fn::GetAtt"][0], r["Fn::Join"][1][1]) for s in statements for r in _resources(s)
    }
    buckets = list(template.find_resources("AWS::S3::Bucket"))
    design = next(logical for logical in buckets if logical.startswith("DesignFiles"))
    clean = next(logical for logical in buckets if logical.startswith("Clean"))
    assert granted == {(design, "/designs/*"), (clean, "/public/*")}


NO_RESOURCE_READS = frozenset({"lambda:GetAccountSettings"})
"""Reads that the IAM Service Authorization Reference lists with no resource type."""


def test_no_statement_grants_a_wildcard_action(template: Template) -> None:
    documents = [
        p["Properties"]["PolicyDocument"] for p in template.find_resources("AWS::IAM::Policy").values()
    ]
    documents += [
        p["Properties"]["PolicyDocument"] for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
    ]
    for statement in (s for d in documents for s in d["Statement"]):
        for action in _actions(statement):
            assert "*" not in action, statement
        if statement["Resource"] == "*":
            # Describe/List, or a read that acts on no resource (its only possible Resource is "*")
            assert all(
                a.split(":")[1].startswith(("Describe", "List")) or a in NO_RESOURCE_READS
                for a in _actions(statement)
            ), statement


def test_vcs_origin_is_optional() -> None:
    stack = new_stack()
    CiIdentities(stack, "Ci", props=_props(main_branch="release/prod"))
    template = Template.from_stack(stack)
    condition = _trust(template, "ci-deploy")["Condition"]
    assert condition["StringLike"][f"{CIRCLECI}:sub"].endswith(
        "/vcs-origin/*/vcs-ref/refs/heads/release/prod"
    )
    (statement,) = [s for s in _statements(template, "ci-deploy") if "sts:AssumeRole" in _actions(s)]
    assert all(r["Fn::Join"][1][-1].endswith("-us-east-1") for r in _resources(statement))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"circleci_org_id": "rocketclub"}, "circleci_org_id .* must be a UUID"),
        (
            {"circleci_project_id": "0A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D"},
            "circleci_project_id .* must be a UUID",
        ),
        ({"main_branch": "*"}, "main_branch"),
        ({"main_branch": "main/../x"}, "main_branch"),
        ({"circleci_vcs_origin": "rocketclub/blog_infra"}, "circleci_vcs_origin"),
        ({"vercel_team_slug": "Rocket Club"}, "vercel_team_slug"),
        ({"vercel_project": "Blog Code"}, "vercel_project"),
        ({"vercel_environment": "*"}, "vercel_environment"),
        ({"role_name_prefix": "blog test"}, "role_name_prefix"),
        ({"role_name_prefix": "x" * 60}, "over 64 characters"),
        ({"cdk_qualifier": "HNB659FDS"}, "cdk_qualifier"),
        ({"bootstrap_regions": ("us-east",)}, "bootstrap_regions"),
        ({"circleci_thumbprints": ("abc",)}, "thumbprint"),
        ({"vercel_thumbprints": ("a" * 40,) * 6}, "at most 5 thumbprints"),
    ],
)
def test_rejects_invalid_props(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CiIdentities(new_stack(), "Ci", props=_props(**changes))


@pytest.mark.parametrize("prefix", ["", "/designs/", "designs", "designs/*/"])
def test_rejects_frontend_prefixes_that_are_not_plain_folders(prefix: str) -> None:
    stack = new_stack()
    bucket = s3.Bucket(stack, "Bucket")
    with pytest.raises(ValueError, match="frontend_read prefix"):
        CiIdentities(stack, "Ci", props=_props(frontend_read=((bucket, prefix),)))


@pytest.mark.parametrize("env", ["prod", "local"])
def test_verify_policy_reads_the_configuration_of_every_bucket_of_the_stack(
    synthesized: dict[str, Template], env: str
) -> None:
    # GIVEN the whole stack: verify checks every AWS::S3::Bucket of its template
    template = synthesized[env]
    buckets = set(template.find_resources("AWS::S3::Bucket"))
    (policy,) = [
        p
        for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
        if "blog-infra verify" in p["Properties"].get("Description", "")
    ]
    # WHEN the verify policy's bucket-configuration statement is read
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "BucketConfiguration"
    ]
    read = {r["Fn::GetAtt"][0] for r in statement["Resource"] if "Fn::GetAtt" in r}
    # THEN it names each of them: the data buckets, their access-log bucket and the edge's log buckets
    assert buckets and buckets == read, sorted(buckets ^ read)
