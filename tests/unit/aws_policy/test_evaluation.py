"""aws_policy.evaluation: AWS's evaluation logic in one account."""

from __future__ import annotations

from typing import Any

import pytest

from aws_policy.evaluation import Decision, NotEvaluated, Request, condition_holds, evaluate, explain

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/reader"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:blog/x-AbCdEf"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Deny", "Action": action, "Resource": resource, **extra}]}


def request(action: str, resource: str, **context: str) -> Request:
    return Request(ROLE, action, resource, context)


def test_identity_allow_with_wildcards_and_implicit_deny_otherwise() -> None:
    read = request("secretsmanager:GetSecretValue", SECRET)
    assert (
        evaluate(read, [allow("secretsmanager:Get*", "arn:aws:secretsmanager:*:*:secret:blog/*")])
        is Decision.ALLOW
    )
    # actions compare case-insensitively, ARNs case-sensitively
    assert evaluate(read, [allow("SecretsManager:getsecretvalue", SECRET)]) is Decision.ALLOW
    assert evaluate(read, [allow("secretsmanager:GetSecretValue", SECRET.upper())]) is Decision.IMPLICIT_DENY
    assert evaluate(read, [allow("secretsmanager:DescribeSecret", SECRET)]) is Decision.IMPLICIT_DENY
    assert evaluate(read, [allow("secretsmanager:GetSecretValu?", SECRET)]) is Decision.ALLOW


def test_an_explicit_deny_anywhere_wins() -> None:
    read = request("s3:GetObject", "arn:aws:s3:::b/k")
    bucket_deny = {
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "*"}]
    }
    assert evaluate(read, [allow("s3:*", "*")], bucket_deny) is Decision.EXPLICIT_DENY
    assert (
        evaluate(read, [allow("s3:*", "*"), deny("s3:GetObject", "arn:aws:s3:::b/*")])
        is Decision.EXPLICIT_DENY
    )


def test_same_account_resource_policy_alone_allows_when_it_names_the_role() -> None:
    read = request("s3:GetObject", "arn:aws:s3:::b/k")
    names_role = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            }
        ]
    }
    names_account = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROOT},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            }
        ]
    }
    assert evaluate(read, [], names_role) is Decision.ALLOW
    # naming the account delegates to the identity policies: it grants nothing by itself
    assert evaluate(read, [], names_account) is Decision.IMPLICIT_DENY


def test_a_kms_key_policy_must_allow_directly_or_by_delegating_to_iam() -> None:
    decrypt = request("kms:Decrypt", KEY)
    identity = [allow("kms:Decrypt", KEY)]
    delegating = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]
    }
    direct = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
        ]
    }
    other = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/x"}, "Action": "kms:*"}
        ]
    }
    assert evaluate(decrypt, identity, delegating, key_policy=True) is Decision.ALLOW
    assert evaluate(decrypt, [], delegating, key_policy=True) is Decision.IMPLICIT_DENY
    assert evaluate(decrypt, [], direct, key_policy=True) is Decision.ALLOW
    # an identity policy alone has no effect without the key policy
    assert evaluate(decrypt, identity, other, key_policy=True) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("operator", "key", "expected", "context", "holds"),
    [
        (
            "StringEquals",
            "kms:ViaService",
            "secretsmanager.us-east-1.amazonaws.com",
            {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
            True,
        ),
        (
            "StringEquals",
            "kms:ViaService",
            "s3.us-east-1.amazonaws.com",
            {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
            False,
        ),
        ("StringEquals", "kms:ViaService", "x", {}, False),
        ("StringNotLike", "a:sub", "*/vcs-ref/*/vcs-ref/*", {}, True),
        ("StringNotLike", "a:sub", "*/vcs-ref/*/vcs-ref/*", {"a:sub": "p/vcs-ref/x/vcs-ref/main"}, False),
        ("StringLike", "a:sub", ["x/*", "org/*"], {"a:sub": "org/1"}, True),
        (
            "ArnLike",
            "aws:SourceArn",
            "arn:aws:elasticloadbalancing:*:1:loadbalancer/*",
            {"aws:SourceArn": "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x"},
            True,
        ),
        (
            "ArnEquals",
            "ecs:cluster",
            "arn:aws:ecs:us-east-1:1:cluster/c",
            {"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/d"},
            False,
        ),
        ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "true"}, False),
        ("Bool", "aws:SecureTransport", False, {"aws:SecureTransport": "false"}, True),
        ("BoolIfExists", "aws:PrincipalIsAWSService", "false", {}, True),
        ("BoolIfExists", "aws:PrincipalIsAWSService", "false", {"aws:PrincipalIsAWSService": "true"}, False),
        ("NumericLessThan", "s3:TlsVersion", 1.2, {"s3:TlsVersion": "1.3"}, False),
        ("NumericLessThan", "s3:TlsVersion", 1.2, {"s3:TlsVersion": "1.1"}, True),
        ("Null", "aws:TokenIssueTime", "true", {}, True),
    ],
)
def test_condition_operators(
    operator: str, key: str, expected: Any, context: dict[str, str], holds: bool
) -> None:
    assert condition_holds(operator, key, expected, context) is holds


@pytest.mark.parametrize("operator", ["ForAnyValue:StringEquals", "DateLessThan", "IpAddress"])
def test_unevaluated_operators_raise_instead_of_guessing(operator: str) -> None:
    with pytest.raises(NotEvaluated, match=operator.split(":")[0]):
        condition_holds(operator, "k", "v", {"k": "v"})


def test_a_conditioned_key_policy_statement_applies_only_via_its_service() -> None:
    key_policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:Decrypt",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com",
                        "kms:CallerAccount": ACCOUNT,
                    }
                },
            }
        ]
    }
    via = request(
        "kms:Decrypt",
        KEY,
        **{"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT},
    )
    direct = request("kms:Decrypt", KEY, **{"kms:CallerAccount": ACCOUNT})
    assert evaluate(via, [], key_policy, key_policy=True) is Decision.ALLOW
    assert evaluate(direct, [], key_policy, key_policy=True) is Decision.IMPLICIT_DENY


def trust(principal: Any, action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": action, **extra}]}


def test_a_trust_policy_must_allow_by_name_or_by_delegating_to_iam() -> None:
    target = f"arn:aws:iam::{ACCOUNT}:role/target"
    assume = Request(ROLE, "sts:AssumeRole", target)
    may_assume = allow("sts:AssumeRole", target)
    assert evaluate(assume, [], trust({"AWS": ROLE}), trust_policy=True) is Decision.ALLOW
    # naming the account delegates to the identity policies, which must then allow
    assert evaluate(assume, [may_assume], trust({"AWS": ROOT}), trust_policy=True) is Decision.ALLOW
    assert evaluate(assume, [], trust({"AWS": ACCOUNT}), trust_policy=True) is Decision.IMPLICIT_DENY
    # unlike a bucket policy, an identity policy alone is not enough
    assert evaluate(assume, [may_assume], None, trust_policy=True) is Decision.IMPLICIT_DENY
    assert (
        evaluate(assume, [may_assume], trust({"Service": "ecs-tasks.amazonaws.com"}), trust_policy=True)
        is Decision.IMPLICIT_DENY
    )


def test_a_role_session_is_named_by_its_role() -> None:
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/s1"
    target = f"arn:aws:iam::{ACCOUNT}:role/target"
    assume = Request(session, "sts:AssumeRole", target, principal_names=(ROLE,))
    assert evaluate(assume, [], trust({"AWS": ROLE}), trust_policy=True) is Decision.ALLOW
    assert evaluate(assume, [], trust({"AWS": session}), trust_policy=True) is Decision.ALLOW
    other = Request(session, "sts:AssumeRole", target)
    assert evaluate(other, [], trust({"AWS": ROLE}), trust_policy=True) is Decision.IMPLICIT_DENY


def test_a_federated_principal_matches_only_its_provider_and_the_token_conditions() -> None:
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/issuer.example.com"
    target = f"arn:aws:iam::{ACCOUNT}:role/ci"
    policy = trust(
        {"Federated": provider},
        "sts:AssumeRoleWithWebIdentity",
        Condition={"StringEquals": {"issuer.example.com:aud": "sts.amazonaws.com"}},
    )

    def web(principal: str, aud: str) -> Request:
        context = {"issuer.example.com:aud": aud}
        return Request(
            principal, "sts:AssumeRoleWithWebIdentity", target, context, principal_type="Federated"
        )

    assert evaluate(web(provider, "sts.amazonaws.com"), [], policy, trust_policy=True) is Decision.ALLOW
    assert evaluate(web(provider, "other"), [], policy, trust_policy=True) is Decision.IMPLICIT_DENY
    other_provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/other.example.com"
    assert evaluate(web(other_provider, "sts.amazonaws.com"), [], policy, trust_policy=True) is (
        Decision.IMPLICIT_DENY
    )
    # a Federated principal is never the account: naming the account does not delegate to it
    assert evaluate(web(provider, "x"), [], trust({"AWS": ROOT}), trust_policy=True) is Decision.IMPLICIT_DENY


def test_explain_names_the_allowing_statement_and_where_a_deny_came_from() -> None:
    read = request("s3:GetObject", "arn:aws:s3:::b/k")
    identity = [
        deny("s3:PutObject", "*"),
        {"Statement": [{"Sid": "Read", **allow("s3:Get*", "*")["Statement"][0]}]},
    ]
    allowed = explain(read, identity, identity_names=["first", "second"])
    assert (allowed.decision, allowed.allowed_by) == (Decision.ALLOW, ("second#Read",))
    # a statement without a Sid is named by its index; a resource policy by the name given
    bucket = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*"}]
    }
    by_bucket = explain(read, [], bucket, resource_name="bucket policy")
    assert by_bucket.allowed_by == ("bucket policy#0",)
    # denies say in which kind of policy, in AWS's words
    bucket_deny = {"Statement": [{**bucket["Statement"][0], "Effect": "Deny"}]}
    assert explain(read, identity, bucket_deny).denied_in == "resource-based policy"
    assert explain(request("s3:PutObject", "x"), identity).denied_in == "identity-based policy"
    assert explain(request("s3:ListBucket", "x"), identity).denied_in == "identity-based policy"


def test_a_key_policy_that_delegates_names_both_statements_and_one_that_does_not_is_blamed() -> None:
    use = request("kms:Decrypt", KEY)
    delegates = {
        "Statement": [{"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*"}]
    }
    allowed = explain(use, [allow("kms:Decrypt", KEY)], delegates, key_policy=True, identity_names=["p"])
    assert allowed.allowed_by == ("resource policy#Root", "p#0")
    other = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/x"}, "Action": "kms:*"}]
    }
    refused = explain(use, [allow("kms:Decrypt", KEY)], other, key_policy=True)
    assert (refused.decision, refused.denied_in) == (Decision.IMPLICIT_DENY, "resource-based policy")


def test_a_complete_context_raises_for_a_key_it_lacks_unless_aws_would_not_supply_it() -> None:
    policy = allow("s3:GetObject", "*", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}})
    complete = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k", {}, absent_keys=("aws:Source*",))
    assert evaluate(complete, [policy]) is Decision.IMPLICIT_DENY
    strict = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k", {}, absent_keys=("aws:SourceArn",))
    with pytest.raises(NotEvaluated, match="aws:SourceVpce"):
        evaluate(strict, [policy])
    # without absent_keys a missing key is absent, as before
    assert evaluate(request("s3:GetObject", "arn:aws:s3:::b/k"), [policy]) is Decision.IMPLICIT_DENY
