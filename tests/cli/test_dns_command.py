"""`blog-infra dns plan`: the Cloudflare records, read from a (faked) deployed stack and rendered."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest
from click.testing import CliRunner

from blog_infra import render
from blog_infra.commands import dns as dns_command
from blog_infra.commands.dns import EdgeState, dns_group, read_edge_state
from infra.dns import PENDING, ValidationRecord

CLOUDFRONT = "d111111abcdef8.cloudfront.net"
CERT_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/0f3b1a52-7d7c-4b43-9e0b-2d1f6a9c8e11"
PORTAL_VALIDATION = ("_a1b2.portal.rocketclub.online.", "_c3d4.acm-validations.aws.")
PIPELINES_VALIDATION = ("_e5f6.pipelines.rocketclub.online.", "_a7b8.acm-validations.aws.")


class FakeCloudFormation:
    def __init__(
        self, status: str | None, outputs: dict[str, str], certificate_id: str, events: list[str]
    ) -> None:
        self.status = status
        self.outputs = outputs
        self.certificate_id = certificate_id
        self.events = events

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.status is None:
            raise botocore.exceptions.ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status, "Outputs": outputs}]}

    def list_stack_resources(self, StackName: str, NextToken: str | None = None) -> dict[str, Any]:
        if NextToken is None:
            bucket = {"LogicalResourceId": "EdgeCloudFrontLogBucket", "ResourceType": "AWS::S3::Bucket"}
            return {"StackResourceSummaries": [bucket], "NextToken": "page2"}
        certificate = {
            "LogicalResourceId": "EdgeCertificate",
            "ResourceType": "AWS::CertificateManager::Certificate",
            "PhysicalResourceId": self.certificate_id,
        }
        return {"StackResourceSummaries": [certificate] if self.certificate_id != "none" else []}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {
            "StackEvents": [
                {"ResourceType": "AWS::CertificateManager::Certificate", "ResourceStatusReason": reason}
                for reason in self.events
            ]
        }


class FakeAcm:
    def __init__(self, records: list[tuple[str, str]]) -> None:
        self.records = records

    def describe_certificate(self, CertificateArn: str) -> dict[str, Any]:
        assert CertificateArn == CERT_ARN
        options = [
            {"DomainName": n, "ResourceRecord": {"Name": n, "Type": "CNAME", "Value": v}}
            for n, v in self.records
        ]
        return {"Certificate": {"DomainValidationOptions": options}}


class FakeTarget:
    description = "AWS account 111111111111 in us-east-1"

    def __init__(self, cloudformation: FakeCloudFormation, acm: FakeAcm) -> None:
        self.clients = {"cloudformation": cloudformation, "acm": acm}

    def client(self, service: str) -> Any:
        return self.clients[service]


def target(
    status: str | None = "CREATE_COMPLETE",
    outputs: dict[str, str] | None = None,
    certificate_id: str = CERT_ARN,
    acm_records: tuple[tuple[str, str], ...] = (PORTAL_VALIDATION, PIPELINES_VALIDATION),
    events: tuple[str, ...] = (),
) -> Any:
    outputs = {"EdgeDistributionDomain": CLOUDFRONT} if outputs is None else outputs
    return FakeTarget(
        FakeCloudFormation(status, outputs, certificate_id, list(events)), FakeAcm(list(acm_records))
    )


# --- reading the deployed stack ---------------------------------------------------------------------------


def test_deployed_stack_gives_the_distribution_and_acm_validation_records() -> None:
    # GIVEN a completed stack WHEN read THEN the output and ACM's records (across resource pages) are found
    state = read_edge_state(target(), "blog-prod")
    assert state == EdgeState(
        "CREATE_COMPLETE",
        CLOUDFRONT,
        1,
        (ValidationRecord(*PORTAL_VALIDATION), ValidationRecord(*PIPELINES_VALIDATION)),
    )


def test_undeployed_stack_is_empty() -> None:
    state = read_edge_state(target(status=None), "blog-prod")
    assert state == EdgeState()
    assert not state.deployed


def test_waiting_deploy_gives_validation_records_from_stack_events() -> None:
    # GIVEN a first deploy waiting for validation (no outputs, no certificate ARN yet)
    # WHEN read THEN the records quoted in the stack events are found
    reason = (
        "Content of DNS Record is: {Name: _a1b2.portal.rocketclub.online.,Type: CNAME,"
        "Value: _c3d4.acm-validations.aws.}"
    )
    state = read_edge_state(
        target(status="CREATE_IN_PROGRESS", outputs={}, certificate_id="", acm_records=(), events=(reason,)),
        "blog-prod",
    )
    assert state.distribution_domain is None
    assert state.validation_records == (ValidationRecord(*PORTAL_VALIDATION),)


def test_imported_certificate_has_no_validation_records() -> None:
    state = read_edge_state(target(certificate_id="none"), "blog-prod")
    assert (state.certificates, state.validation_records) == (0, ())


# --- the command -----------------------------------------------------------------------------------------


@pytest.fixture
def with_state(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the command at a fake target whose stack is in the given state."""

    def use(state: EdgeState) -> None:
        monkeypatch.setattr(dns_command, "resolve", lambda config: FakeTarget.__new__(FakeTarget))
        monkeypatch.setattr(dns_command, "read_edge_state", lambda target, stack_name: state)

    return use


DEPLOYED = EdgeState(
    "CREATE_COMPLETE",
    CLOUDFRONT,
    1,
    (ValidationRecord(*PORTAL_VALIDATION), ValidationRecord(*PIPELINES_VALIDATION)),
)


def test_plan_prints_a_table_with_notes(with_state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with_state(DEPLOYED)
    monkeypatch.setattr(render.console, "width", 200)
    result = CliRunner().invoke(dns_group, ["plan", "--env", "prod"])
    assert result.exit_code == 0, result.output
    assert "portal.rocketclub.online" in result.output
    assert CLOUDFRONT in result.output
    assert "_a1b2.portal.rocketclub.online" in result.output
    assert "Full (strict)" in result.output
    # AND the origin lock's transform rule, its value named but never given, and what the operator does
    assert "http_request_late_transform" in result.output and "set X-Blog-Origin-Verify" in result.output
    assert "<secret: current value of the origin-verify secret>" in result.output
    assert "Origin lock: the load balancer answers 403" in result.output


def test_plan_json_is_machine_readable(with_state: Any) -> None:
    with_state(DEPLOYED)
    result = CliRunner().invoke(dns_group, ["plan", "--env", "prod", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["environment"], document["stack"], document["deployed"]) == ("prod", "blog-prod", True)
    assert [(r["name"], r["proxied"]) for r in document["records"]] == [
        ("portal.rocketclub.online", True),
        ("pipelines.rocketclub.online", True),
        ("_a1b2.portal.rocketclub.online", False),
        ("_e5f6.pipelines.rocketclub.online", False),
    ]
    rule = document["origin_rule"]
    assert (rule["phase"], rule["header"]) == ("http_request_late_transform", "X-Blog-Origin-Verify")
    assert rule["expression"] == '(http.host in {"portal.rocketclub.online" "pipelines.rocketclub.online"})'
    assert rule["value"].startswith("<secret:")


def test_plan_bind_is_a_zone_fragment_on_stdout(with_state: Any) -> None:
    with_state(DEPLOYED)
    result = CliRunner().invoke(dns_group, ["plan", "--env", "prod", "--format", "bind"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("$ORIGIN rocketclub.online.\n")
    assert (
        f"portal.rocketclub.online.\t1\tIN\tCNAME\t{CLOUDFRONT}. ; cf_tags=cf-proxied:true" in result.stdout
    )
    assert "Full (strict)" not in result.stdout


def test_plan_before_deploy_shows_pending_content_and_says_so(with_state: Any) -> None:
    with_state(EdgeState())
    result = CliRunner().invoke(dns_group, ["plan", "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["deployed"] is False
    assert [r["content"] for r in document["records"]] == [PENDING, PENDING]
    assert "is not deployed" in result.stderr


def test_json_flag_and_another_format_conflict(with_state: Any) -> None:
    with_state(DEPLOYED)
    result = CliRunner().invoke(dns_group, ["plan", "--env", "prod", "--json", "--format", "bind"])
    assert result.exit_code != 0
    assert "disagree" in str(result.exception)


def test_plan_help_has_an_example() -> None:
    result = CliRunner().invoke(dns_group, ["plan", "--help"])
    assert "Example: blog-infra dns plan" in result.output
