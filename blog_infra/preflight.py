"""Preflight: what in the target account would make a deploy of the synthesized template fail.

Each check reads the account through one AWS API (named in its docstring) and reports, one line
each, what it found and how to fix it. A finding is a problem (the deploy would fail: `deploy`
refuses) or a note (worth knowing, not a failure of this deploy). The checks read only the
template and the configuration, so they hold for whatever images, zones and functions the template
declares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from blog_infra.errors import Unavailable
from blog_infra.planning import Action, Plan
from blog_infra.target import Target
from infra.aws_facts import (
    MIN_UNRESERVED_CONCURRENCY,
    VPC_ORIGIN_UNSUPPORTED_ZONE_IDS,
    VPC_ORIGINS_PAGE,
)
from infra.config import CONFIG_FILE_NAME, EnvConfig

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^:@/]+)|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/.+$")


@dataclass(frozen=True)
class Finding:
    check: str
    message: str
    """One line: what is wrong (or worth knowing) and how to fix it."""
    problem: bool = True
    """True when it would make the deploy fail; False for a note."""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "problem": self.problem}


@dataclass(frozen=True)
class Account:
    """What the checks read: the environment, its target, the template to deploy, what is deployed."""

    config: EnvConfig
    target: Target
    template: Mapping[str, Any]
    deployed: Mapping[str, str] = field(default_factory=dict)
    """Logical id -> physical id of the stack's resources in the account (empty before the first
    deploy)."""
    changed: frozenset[str] | None = None
    """Logical ids this deploy adds or modifies; None when unknown (every resource counts)."""

    def resources(self, resource_type: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [
            (logical_id, resource.get("Properties", {}))
            for logical_id, resource in self.template.get("Resources", {}).items()
            if resource.get("Type") == resource_type
        ]

    def config_file(self) -> str:
        return f"infra/envs/{self.config.name}/{CONFIG_FILE_NAME}"


@dataclass(frozen=True)
class Report:
    env: str
    target: str
    findings: tuple[Finding, ...]
    checks: tuple[tuple[str, str], ...]
    """(check, the AWS API it reads) of every check that ran."""

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "target": self.target,
            "ok": not self.problems,
            "problems": [f.to_json() for f in self.problems],
            "notes": [f.to_json() for f in self.findings if not f.problem],
            "checks": [{"check": name, "api": api} for name, api in self.checks],
        }


def _client_error(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# ---------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class ImageRef:
    """A container image as a task definition names it."""

    text: str
    """The image as shown to the user."""
    repository: str | None = None
    """ECR repository name, when the image lives in ECR and its repository is known."""
    tag: str | None = None
    digest: str | None = None
    created_by: str | None = None
    """Logical id of the ECR repository this deploy creates (it holds no image yet)."""


def image_ref(image: Any, account: Account) -> ImageRef:
    """Where `image` (a task definition's `Image`, a string or a CloudFormation join) lives."""
    if isinstance(image, str):
        match = _ECR_IMAGE.match(image)
        if match:
            return ImageRef(
                text=image,
                repository=match["repository"],
                tag=match["tag"] or (None if match["digest"] else "latest"),
                digest=match["digest"],
            )
        return ImageRef(text=image)
    join = image.get("Fn::Join") if isinstance(image, dict) else None
    if not (isinstance(join, list) and len(join) == 2 and isinstance(join[1], list)):
        return ImageRef(text=str(image))
    parts = join[1]
    repositories = {logical_id: props for logical_id, props in account.resources("AWS::ECR::Repository")}
    ref = next(
        (p["Ref"] for p in parts if isinstance(p, dict) and p.get("Ref") in repositories),
        None,
    )
    suffix = parts[-1] if parts and isinstance(parts[-1], str) else ""
    tag = suffix.rpartition(":")[2] if ":" in suffix else "latest"
    if ref is None:
        return ImageRef(text=str(image))
    name = repositories[ref].get("RepositoryName") or account.deployed.get(ref)
    if not isinstance(name, str):
        return ImageRef(text=f"<{ref}>:{tag}", tag=tag, created_by=ref)
    return ImageRef(text=f"{name}:{tag}", repository=name, tag=tag)


def _registry(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first) else "docker.io"


def check_images(account: Account) -> list[Finding]:
    """Every container image that this deploy starts tasks of, and that lives in ECR, is there.

    AWS API: ecr:DescribeImages (the image's tag or digest in its repository). A missing image of a
    service that waits at zero tasks (or that this deploy does not touch) is a note; an image from
    another registry is pulled from there at each task start and is not checked here.
    """
    findings: list[Finding] = []
    ecr = account.target.client("ecr")
    registry = f"{account.config.account_id}.dkr.ecr.{account.config.region}.amazonaws.com"
    starting = _task_definitions_started(account)
    for logical_id, props in account.resources("AWS::ECS::TaskDefinition"):
        pulled_now = logical_id in starting
        for container in props.get("ContainerDefinitions", []):
            where = f"task definition {logical_id}, container {container.get('Name', '?')}"
            ref = image_ref(container.get("Image"), account)
            if ref.created_by:
                findings.append(
                    Finding(
                        "images",
                        f"{ref.text} ({where}) comes from ECR repository {ref.created_by}, which this "
                        f"deploy creates empty: push tag {ref.tag} to it before the service must start",
                        problem=False,
                    )
                )
                continue
            if ref.repository is None:
                findings.append(
                    Finding(
                        "images",
                        f"{ref.text} ({where}) is pulled from the public registry {_registry(ref.text)} "
                        "at each task start, not from ECR: not checked here",
                        problem=False,
                    )
                )
                continue
            image_id = {"imageDigest": ref.digest} if ref.digest else {"imageTag": ref.tag}
            try:
                ecr.describe_images(repositoryName=ref.repository, imageIds=[image_id])
                continue
            except botocore.exceptions.ClientError as exc:
                code = _client_error(exc)
                if code == "RepositoryNotFoundException":
                    message = (
                        f"ECR repository {ref.repository} does not exist ({where}): create it and push "
                        f"{registry}/{ref.repository}:{ref.tag or ref.digest}"
                    )
                elif code == "ImageNotFoundException":
                    wanted = ref.tag or ref.digest
                    message = (
                        f"image {ref.repository}:{wanted} is not in ECR repository "
                        f"{ref.repository} ({where}): push {registry}/{ref.repository}:{wanted}"
                    )
                else:
                    raise
            findings.append(
                Finding(
                    "images",
                    message + ("" if pulled_now else " (no service starts it in this deploy)"),
                    problem=pulled_now,
                )
            )
    return findings


def _task_definitions_started(account: Account) -> set[str]:
    """Task definitions whose image this deploy pulls: those of services that run tasks (a desired
    count above zero, or none given) and that the deploy adds or changes (service or definition)."""
    started = set()
    for logical_id, props in account.resources("AWS::ECS::Service"):
        definition = props.get("TaskDefinition")
        ref = definition.get("Ref") if isinstance(definition, dict) else None
        desired = props.get("DesiredCount")
        if not isinstance(ref, str) or (isinstance(desired, int) and desired == 0):
            continue
        if account.changed is None or logical_id in account.changed or ref in account.changed:
            started.add(ref)
    return started


# ---------------------------------------------------------------------------------------- zones


def check_zones(account: Account) -> list[Finding]:
    """Every zone the template's subnets name is offered to the account, and CloudFront VPC origins
    are offered in it (`infra.aws_facts.VPC_ORIGIN_UNSUPPORTED_ZONE_IDS`).

    AWS API: ec2:DescribeAvailabilityZones (the account's zone names and the zone ids they map to:
    a zone name is a different physical zone in each account, a zone id the same in all).
    """
    subnets = account.resources("AWS::EC2::Subnet")
    if not subnets:
        return []
    zones = account.target.client("ec2").describe_availability_zones()["AvailabilityZones"]
    id_of = {zone["ZoneName"]: zone["ZoneId"] for zone in zones}
    name_of = {zone_id: name for name, zone_id in id_of.items()}
    wanted: dict[str, list[str]] = {}
    for logical_id, props in subnets:
        zone_id = props.get("AvailabilityZoneId")
        name = props.get("AvailabilityZone")
        if not isinstance(zone_id, str) and isinstance(name, str):
            zone_id = id_of.get(name, f"<{name}>")
        if isinstance(zone_id, str):
            wanted.setdefault(zone_id, []).append(logical_id)
    findings = []
    where = f"network.zone_ids in {account.config_file()}"
    for zone_id, logical_ids in sorted(wanted.items()):
        shown = (
            f"{len(logical_ids)} subnet{'s' if len(logical_ids) != 1 else ''} ({', '.join(logical_ids[:2])}"
        )
        shown += ", ...)" if len(logical_ids) > 2 else ")"
        if zone_id not in name_of:
            findings.append(
                Finding(
                    "zones",
                    f"{shown} name zone {zone_id.strip('<>')}, which {account.config.region} does not offer "
                    f"this account: choose zone ids among {', '.join(sorted(name_of))} in {where}",
                )
            )
        elif zone_id in VPC_ORIGIN_UNSUPPORTED_ZONE_IDS:
            findings.append(
                Finding(
                    "zones",
                    f"{shown} are in zone {zone_id} ({name_of[zone_id]} in this account), where CloudFront "
                    f"VPC origins are not offered ({VPC_ORIGINS_PAGE}): choose other zone ids in {where}",
                )
            )
    return findings


# ------------------------------------------------------------------------------ Lambda concurrency


def check_lambda_concurrency(account: Account) -> list[Finding]:
    """The account's Lambda concurrency quota leaves the minimum unreserved after our reservations.

    AWS API: lambda:GetAccountSettings (AccountLimit.ConcurrentExecutions and
    UnreservedConcurrentExecutions), and lambda:GetFunctionConcurrency for each of the stack's
    functions already deployed (their reservations are given back when the deploy replaces them).
    """
    wanted = {
        logical_id: int(props["ReservedConcurrentExecutions"])
        for logical_id, props in account.resources("AWS::Lambda::Function")
        if isinstance(props.get("ReservedConcurrentExecutions"), int)
        and props["ReservedConcurrentExecutions"] > 0
    }
    if not wanted:
        return []
    client = account.target.client("lambda")
    limits = client.get_account_settings()["AccountLimit"]
    quota, unreserved = int(limits["ConcurrentExecutions"]), int(limits["UnreservedConcurrentExecutions"])
    held = 0
    for logical_id, resource in account.template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Lambda::Function" and logical_id in account.deployed:
            try:
                answer = client.get_function_concurrency(FunctionName=account.deployed[logical_id])
            except botocore.exceptions.ClientError as exc:
                if _client_error(exc) != "ResourceNotFoundException":
                    raise
                continue
            held += int(answer.get("ReservedConcurrentExecutions") or 0)
    total = sum(wanted.values())
    left = unreserved + held - total
    if left >= MIN_UNRESERVED_CONCURRENCY:
        return []
    listed = ", ".join(f"{logical_id} {n}" for logical_id, n in sorted(wanted.items()))
    return [
        Finding(
            "lambda-concurrency",
            f"Lambda reservations of {total} ({listed}) would leave {left} of the account's {quota} "
            f"concurrent executions unreserved in {account.config.region}, and Lambda keeps at least "
            f"{MIN_UNRESERVED_CONCURRENCY} unreserved: set the lambda_concurrency reservations to 0 in "
            f"{account.config_file()}, or raise the quota to at least "
            f"{quota - left + MIN_UNRESERVED_CONCURRENCY} "
            "(Service Quotas, AWS Lambda, Concurrent executions)",
        )
    ]


# --------------------------------------------------------------------------------- CircleCI ids


def check_stand_in_ids(account: Account) -> list[Finding]:
    """The environment's account and CircleCI ids are its organisation's, not the shipped stand-ins.

    AWS API: none (the configuration's stand-in values, `EnvConfig.placeholders`). Only for an AWS
    target: the emulator never meets CircleCI.
    """
    return stand_in_findings(account.config)


def stand_in_findings(config: EnvConfig) -> list[Finding]:
    if config.is_emulated:
        return []
    where = f"infra/envs/{config.name}/{CONFIG_FILE_NAME}"
    fixes = {
        "account_id": "set account_id to the AWS account the environment deploys to",
        "circleci.org_id": (
            "set circleci.org_id to the organization id CircleCI shows in Organization Settings"
        ),
        "circleci.project_id": (
            "set circleci.project_id to the project id CircleCI shows in Project Settings"
        ),
    }
    return [
        Finding("stand-in-ids", f"{name} in {where} is a stand-in value: {fixes.get(name, 'set it')}")
        for name in config.placeholders()
    ]


# --------------------------------------------------------------------------------- certificate


def check_certificate(account: Account) -> list[Finding]:
    """A certificate the edge imports (edge.certificate_arn) exists and is issued.

    AWS API: acm:DescribeCertificate, in the certificate's region (us-east-1 for CloudFront). When
    the edge creates its own certificate (no certificate_arn), the deploy creates and validates it,
    and there is nothing to check.
    """
    arn = account.config.edge.certificate_arn
    if arn is None:
        return []
    match = _ACM_ARN.match(arn)
    region = match["region"] if match else "us-east-1"
    client = account.target.client("acm", region=region)
    try:
        status = client.describe_certificate(CertificateArn=arn)["Certificate"].get("Status")
    except botocore.exceptions.ClientError as exc:
        if _client_error(exc) not in ("ResourceNotFoundException", "ValidationException"):
            raise
        return [
            Finding(
                "certificate",
                f"certificate {arn} (edge.certificate_arn) does not exist in {region}: issue it in ACM "
                f"there, or unset edge.certificate_arn in {account.config_file()} to let the deploy "
                "create one",
            )
        ]
    if status != "ISSUED":
        return [
            Finding(
                "certificate",
                f"certificate {arn} (edge.certificate_arn) is {status}, not ISSUED: complete its "
                "validation in ACM before deploying",
            )
        ]
    return []


# ------------------------------------------------------------------------------------- running

CheckFunction = Callable[[Account], list[Finding]]
CHECKS: dict[str, tuple[CheckFunction, str]] = {
    "images": (check_images, "ecr:DescribeImages"),
    "zones": (check_zones, "ec2:DescribeAvailabilityZones"),
    "lambda-concurrency": (
        check_lambda_concurrency,
        "lambda:GetAccountSettings, lambda:GetFunctionConcurrency",
    ),
    "stand-in-ids": (check_stand_in_ids, "none (configuration)"),
    "certificate": (check_certificate, "acm:DescribeCertificate"),
}
"""Every check, in the order it runs, with the AWS API it reads."""


def deployed_resources(target: Target, stack_name: str) -> dict[str, str]:
    """Logical id -> physical id of the stack's resources; empty when it is not deployed.

    AWS API: cloudformation:ListStackResources."""
    client = target.client("cloudformation")
    found: dict[str, str] = {}
    try:
        for page in client.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("PhysicalResourceId"):
                    found[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    except botocore.exceptions.ClientError as exc:
        if "does not exist" not in str(exc):
            raise
    return found


def run(
    config: EnvConfig,
    target: Target,
    template: Mapping[str, Any],
    plan: Plan | None = None,
    *,
    checks: Sequence[str] | None = None,
) -> Report:
    """Every check (or those named) on `template` against `target`'s account."""
    changed = (
        None
        if plan is None
        else frozenset(c.logical_id for c in plan.changes if c.action in (Action.ADD, Action.MODIFY))
    )
    account = Account(
        config=config,
        target=target,
        template=template,
        deployed=deployed_resources(target, config.stack_name),
        changed=changed,
    )
    findings: list[Finding] = []
    ran = []
    for name in checks or CHECKS:
        function, api = CHECKS[name]
        ran.append((name, api))
        try:
            findings.extend(function(account))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise Unavailable(
                f"preflight check {name} could not read {api} on {target.description}: {exc}"
            ) from None
    return Report(env=config.name, target=target.description, findings=tuple(findings), checks=tuple(ran))


def refusal(report: Report) -> str | None:
    """The one line `deploy` refuses with, or None when nothing would make the deploy fail."""
    problems = report.problems
    if not problems:
        return None
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return (
        f"preflight found {count} that would make the deploy of {report.env} to {report.target} fail: "
        + "; ".join(p.message for p in problems)
    )
