"""`blog-infra verify` under the CI plan role's credentials, obtained as CircleCI obtains them
(AssumeRoleWithWebIdentity with an OIDC token whose `iss`, `aud` and `sub` the role's trust policy
accepts), on the deployed local platform with IAM enforced: the role's verify policy lets every check
run, and taking one of its statements out makes verify say which call was refused and to whom."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aws_policy.evaluation import Decision, Request, explain
from blog_infra import cli
from blog_infra.commands import verify as verify_command
from blog_infra.exit_codes import ExitCode
from blog_infra.target import Target
from blog_infra.verify import Report, Status
from emulator import control
from emulator.iam_enforcement import DECISIONS_PATH
from infra.config import load_config
from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
CONFIG = load_config("local")
PLAN_ROLE = f"{CONFIG.stack_name}-ci-plan"
BUCKET_STATEMENT = "BucketConfiguration"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _token(issuer: str, audience: str, subject: str) -> str:
    """An unsigned OIDC token with CircleCI's claims (the emulator does not check signatures)."""
    now = int(time.time())
    claims = {"iss": f"https://{issuer}", "aud": audience, "sub": subject, "iat": now, "exp": now + 3600}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _decisions(platform: LocalPlatform, method: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(platform.endpoint + DECISIONS_PATH, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        decisions: list[dict[str, Any]] = json.loads(answer.read())["decisions"]
        return decisions


@dataclass(frozen=True)
class CiSession:
    target: Target
    role_arn: str
    principal_prefix: str
    verify_policy_arn: str


@pytest.fixture(scope="module")
def ci_session(platform: LocalPlatform) -> CiSession:
    """The CI plan role's session, from a token shaped by the deployed role's trust policy and provider."""
    iam = platform.client("iam")
    role = iam.get_role(RoleName=PLAN_ROLE)["Role"]
    document = role["AssumeRolePolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    (statement,) = document["Statement"]
    provider_arn = statement["Principal"]["Federated"]
    issuer = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)["Url"]
    issuer = issuer.removeprefix("https://")
    (audience,) = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)["ClientIDList"]
    assert statement["Condition"]["StringEquals"] == {f"{issuer}:aud": audience}
    subject = statement["Condition"]["StringLike"][f"{issuer}:sub"].replace("*", "0a1b2c3d")
    token = _token(issuer, audience, subject)
    credentials = platform.client("sts").assume_role_with_web_identity(
        RoleArn=role["Arn"], RoleSessionName="circleci-verify", WebIdentityToken=token
    )["Credentials"]
    (verify_policy,) = [
        p["PolicyArn"]
        for p in iam.list_attached_role_policies(RoleName=PLAN_ROLE)["AttachedPolicies"]
        if "VerifyPolicy" in p["PolicyName"]
    ]
    admin = Target(
        config=CONFIG,
        endpoint=platform.endpoint,
        env=control.client_environment(platform.endpoint, CONFIG.region),
    )
    return CiSession(
        target=admin.with_session(credentials),
        role_arn=role["Arn"],
        principal_prefix=f"arn:aws:sts::{ACCOUNT}:assumed-role/{PLAN_ROLE}/",
        verify_policy_arn=verify_policy,
    )


def _outcome(report: Report) -> list[tuple[str, str, str, str]]:
    return [(c.check, c.resource, c.actual, c.status.value) for c in report.checks]


def test_verify_under_the_ci_role_runs_every_check_its_policy_allows(
    platform: LocalPlatform, ci_session: CiSession
) -> None:
    # GIVEN the platform as deployed, IAM enforced, and an emptied decisions record
    _decisions(platform, "DELETE")
    admin = Target(
        config=CONFIG,
        endpoint=platform.endpoint,
        env=control.client_environment(platform.endpoint, CONFIG.region),
    )
    # WHEN verify's checks run with the CI plan role's session
    report = verify_command.verify_environment(CONFIG, ci_session.target)
    decisions = [
        d for d in _decisions(platform, "GET") if d["principal"].startswith(ci_session.principal_prefix)
    ]
    # THEN nothing was refused: the same report as with the administrator's keys
    assert report.refusals() == []
    assert report.exit_code is ExitCode.OK, [c for c in report.checks if c.status is not Status.PASS]
    assert _outcome(report) == _outcome(verify_command.verify_environment(CONFIG, admin))
    # AND the emulator allowed every call the role made
    assert decisions, "the emulator recorded none of the role's calls"
    refused = [d for d in decisions if d["decision"] != "allow"]
    assert refused == []
    # AND the verify policy alone allows each of them (the record names the first statement that
    # allowed, which for DescribeStacks is the role's own ReadStacks): which statement, for the record
    iam = platform.client("iam")
    arn = ci_session.verify_policy_arn
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    by_verify_policy = {
        (d["action"], d["resource"]): explain(
            Request(d["principal"], d["action"], d["resource"]), [document], identity_names=[arn]
        )
        for d in decisions
    }
    outside = [call for call, e in by_verify_policy.items() if e.decision is not Decision.ALLOW]
    assert outside == []
    for (action, resource), evaluation in sorted(by_verify_policy.items()):
        print(f"{action} on {resource} <- {evaluation.allowed_by[0].rsplit('/', 1)[-1]}")


@pytest.fixture
def without_bucket_statement(platform: LocalPlatform, ci_session: CiSession) -> Iterator[str]:
    """The verify policy's bucket-configuration statement taken out (a new default version), restored
    afterwards by making the old version the default again and deleting the new one."""
    iam = platform.client("iam")
    arn = ci_session.verify_policy_arn
    old = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=old)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    kept = [s for s in document["Statement"] if s.get("Sid") != BUCKET_STATEMENT]
    assert len(kept) == len(document["Statement"]) - 1
    new = iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps({**document, "Statement": kept}), SetAsDefault=True
    )["PolicyVersion"]["VersionId"]
    try:
        yield BUCKET_STATEMENT
    finally:
        iam.set_default_policy_version(PolicyArn=arn, VersionId=old)
        iam.delete_policy_version(PolicyArn=arn, VersionId=new)


def test_verify_names_the_refused_call_and_the_role_when_a_grant_is_taken_out(
    platform: LocalPlatform,
    ci_session: CiSession,
    without_bucket_statement: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the command resolving to the CI role's session, whose policy lost its bucket reads
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(platform.state_dir))
    monkeypatch.setattr(verify_command, "resolve", lambda config: ci_session.target)
    # WHEN `blog-infra verify --env local --json` runs
    code = cli.main(["verify", "--env", "local", "--json"])
    captured = capsys.readouterr()
    # THEN it exits "could not check everything", without a traceback
    assert code == ExitCode.UNAVAILABLE
    assert "Traceback" not in captured.err
    # AND says, one line per refused call, which action was refused to which role session
    session = f"{ci_session.principal_prefix}circleci-verify"
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert set(errors) == {
        f"error: no permission: s3:{action} ({operation}) refused to {session}"
        for action, operation in (
            ("GetEncryptionConfiguration", "GetBucketEncryption"),
            ("GetBucketPublicAccessBlock", "GetPublicAccessBlock"),
            ("GetBucketVersioning", "GetBucketVersioning"),
            ("GetBucketTagging", "GetBucketTagging"),
            ("GetBucketPolicy", "GetBucketPolicy"),
        )
    }, captured.err
    # AND only the bucket checks could not run; the rest passed
    checks = json.loads(captured.out)["checks"]
    assert {c["check"] for c in checks if c["status"] == "could not check"} == {
        "bucket encryption",
        "bucket public access block",
        "bucket versioning",
        "tags",
        "bucket policy",
    }
    assert {c["status"] for c in checks} <= {"pass", "skipped", "could not check"}
