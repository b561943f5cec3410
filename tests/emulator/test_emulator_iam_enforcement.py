"""STS checks a role's trust policy (emulator.iam_enforcement), in the modes off, audit and enforce."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.iam_enforcement import MODE_PATH
from tests.emulator.emulator_testlib import Emulator, create_stack, outputs, template

ISSUER = "issuer.example.com"
SUBJECT = "repo:rocketclub/blog-infra:ref:refs/heads/main"


def _control(emulator: Emulator, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        emulator.endpoint + MODE_PATH,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _role(iam: Any, trust: dict[str, Any]) -> str:
    name = f"trust-{uuid.uuid4().hex[:10]}"
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **trust}]}
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"])


def _service_role(iam: Any) -> str:
    return _role(iam, {"Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})


def _assume(sts: Any, role_arn: str) -> dict[str, Any]:
    return dict(sts.assume_role(RoleArn=role_arn, RoleSessionName="session")["Credentials"])


def _log_since(emulator: Emulator, offset: int, needle: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        text = emulator.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_the_default_shape_enforces_and_an_unknown_mode_is_refused(emulator: Emulator) -> None:
    # The session's emulator runs the default account shape: IAM enforced, as on AWS
    assert _control(emulator) == (200, {"mode": "enforce"})
    status, answer = _control(emulator, {"mode": "strict"})
    assert status == 400
    assert "off, audit, enforce" in answer["error"]
    assert _control(emulator) == (200, {"mode": "enforce"})


def test_off_lets_anyone_assume_a_role_that_trusts_only_a_service(
    aws: Callable[[str], Any], set_mode: Callable[[str], None]
) -> None:
    # GIVEN a role that only ECS tasks may assume, and the check off
    set_mode("off")
    role_arn = _service_role(aws("iam"))
    # WHEN the emulator's default credentials assume it THEN moto issues credentials, as before
    assert _assume(aws("sts"), role_arn)["AccessKeyId"]


def test_enforce_refuses_a_role_that_trusts_only_a_service(
    aws: Callable[[str], Any], set_mode: Callable[[str], None]
) -> None:
    # GIVEN a role that only ECS tasks may assume, and the check enforced
    role_arn = _service_role(aws("iam"))
    sts = aws("sts")
    caller = sts.get_caller_identity()["Arn"]
    set_mode("enforce")
    # WHEN the emulator's default credentials assume it
    with pytest.raises(ClientError) as refused:
        _assume(sts, role_arn)
    # THEN STS refuses as AWS does
    error = refused.value.response
    assert error["Error"]["Code"] == "AccessDenied"
    assert error["Error"]["Message"] == (
        f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_enforce_refuses_a_role_that_does_not_exist(
    aws: Callable[[str], Any], set_mode: Callable[[str], None]
) -> None:
    set_mode("enforce")
    with pytest.raises(ClientError, match="AccessDenied"):
        _assume(aws("sts"), "arn:aws:iam::123456789012:role/no-such-role")


def test_audit_allows_and_logs_the_refusal_it_would_make(
    emulator: Emulator, aws: Callable[[str], Any], set_mode: Callable[[str], None]
) -> None:
    role_arn = _service_role(aws("iam"))
    set_mode("audit")
    offset = emulator.log_path.stat().st_size
    assert _assume(aws("sts"), role_arn)["AccessKeyId"]
    logged = _log_since(emulator, offset, role_arn)
    assert f"would refuse (audit) sts:AssumeRole of {role_arn}" in logged
    assert "implicit deny by the trust policy" in logged


@pytest.mark.parametrize("account_principal", ["arn:aws:iam::123456789012:root", "123456789012"])
def test_enforce_allows_a_role_that_trusts_the_account(
    aws: Callable[[str], Any], set_mode: Callable[[str], None], account_principal: str
) -> None:
    # GIVEN a role that trusts the account, i.e. its principals whose identity policies allow it
    role_arn = _role(aws("iam"), {"Principal": {"AWS": account_principal}, "Action": "sts:AssumeRole"})
    set_mode("enforce")
    # WHEN the emulator's default credentials (an administrator of the account) assume it THEN it works
    assert _assume(aws("sts"), role_arn)["AccessKeyId"]


def test_enforce_a_role_session_needs_an_identity_policy_unless_the_trust_names_its_role(
    emulator: Emulator, aws: Callable[[str], Any], set_mode: Callable[[str], None]
) -> None:
    iam, sts = aws("iam"), aws("sts")
    account = {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
    first = _role(iam, account)
    trusts_the_account = _role(iam, account)
    trusts_first = _role(iam, {"Principal": {"AWS": first}, "Action": "sts:AssumeRole"})
    set_mode("enforce")
    credentials = _assume(sts, first)
    as_first = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    ).client("sts", endpoint_url=emulator.endpoint)
    session_arn = as_first.get_caller_identity()["Arn"]
    assert ":assumed-role/" in session_arn
    # the first role has no identity policy: a trust that names only the account is not enough
    with pytest.raises(ClientError) as refused:
        _assume(as_first, trusts_the_account)
    assert refused.value.response["Error"]["Message"].startswith(f"User: {session_arn} is not authorized")
    # a trust that names the session's role is
    assert _assume(as_first, trusts_first)["AccessKeyId"]
    # and so is the account's delegation once an identity policy of the role allows the call
    iam.put_role_policy(
        RoleName=first.rsplit("/", 1)[-1],
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": trusts_the_account}
                ],
            }
        ),
    )
    assert _assume(as_first, trusts_the_account)["AccessKeyId"]


def test_enforce_reads_a_stack_role_whose_conditional_statement_is_absent(
    aws: Callable[[str], Any], set_mode: Callable[[str], None]
) -> None:
    # GIVEN a role deployed by a stack whose trust policy has a statement only under a false condition
    # (as CDK's bootstrap roles have), and a statement that trusts the account
    name = f"trust-{uuid.uuid4().hex[:8]}"
    trusts_account = {
        "Effect": "Allow",
        "Principal": {"AWS": {"Ref": "AWS::AccountId"}},
        "Action": "sts:AssumeRole",
    }
    extra = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    body = template(
        {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [trusts_account, {"Fn::If": ["Never", extra, {"Ref": "AWS::NoValue"}]}],
                    }
                },
            }
        },
        {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}},
        Conditions={"Never": {"Fn::Equals": ["a", "b"]}},
    )
    role_arn = outputs(create_stack(aws("cloudformation"), name, body))["RoleArn"]
    set_mode("enforce")
    # WHEN the default credentials assume it THEN the absent statement is no obstacle
    assert _assume(aws("sts"), role_arn)["AccessKeyId"]


def _token(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.fixture
def web_identity_role(aws: Callable[[str], Any]) -> str:
    iam = aws("iam")
    providers = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    provider = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
    if provider not in providers:
        iam.create_open_id_connect_provider(
            Url=f"https://{ISSUER}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
        )
    return _role(
        iam,
        {
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com", f"{ISSUER}:sub": SUBJECT}},
        },
    )


def _assume_with(sts: Any, role_arn: str, token: str) -> dict[str, Any]:
    answer = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token)
    return dict(answer["Credentials"])


def test_enforce_web_identity_allows_the_matching_token_and_refuses_another(
    aws: Callable[[str], Any], set_mode: Callable[[str], None], web_identity_role: str
) -> None:
    sts = aws("sts")
    set_mode("enforce")
    matching = _token(iss=f"https://{ISSUER}", aud="sts.amazonaws.com", sub=SUBJECT)
    assert _assume_with(sts, web_identity_role, matching)["AccessKeyId"]
    # the aud key is the token's azp claim when it has one
    authorized_party = _token(
        iss=f"https://{ISSUER}", aud="another-audience", azp="sts.amazonaws.com", sub=SUBJECT
    )
    assert _assume_with(sts, web_identity_role, authorized_party)["AccessKeyId"]
    for other in (
        _token(iss=f"https://{ISSUER}", aud="sts.amazonaws.com", sub="repo:someone/else:ref:refs/heads/main"),
        _token(iss=f"https://{ISSUER}", aud="another-audience", sub=SUBJECT),
    ):
        with pytest.raises(ClientError) as refused:
            _assume_with(sts, web_identity_role, other)
        error = refused.value.response
        assert error["Error"]["Code"] == "AccessDenied"
        assert error["Error"]["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_enforce_web_identity_refuses_a_token_of_an_unknown_issuer(
    aws: Callable[[str], Any], set_mode: Callable[[str], None], web_identity_role: str
) -> None:
    set_mode("enforce")
    stranger = _token(iss="https://stranger.example.org", aud="sts.amazonaws.com", sub=SUBJECT)
    with pytest.raises(ClientError) as refused:
        _assume_with(aws("sts"), web_identity_role, stranger)
    assert refused.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "stranger.example.org" in refused.value.response["Error"]["Message"]


def test_off_web_identity_accepts_any_token(
    aws: Callable[[str], Any], web_identity_role: str, set_mode: Callable[[str], None]
) -> None:
    set_mode("off")
    stranger = _token(iss="https://stranger.example.org", aud="x", sub="y")
    assert _assume_with(aws("sts"), web_identity_role, stranger)["AccessKeyId"]
