"""Dead grants: the statements of the platform's roles that nothing exercised on the local emulator.

The emulator enforces IAM and records every decision it takes for a role session
(`GET /_emulator/iam/decisions`, `emulator/iam_enforcement.py`), with the statement that allowed each
call (`<policy>#<Sid or position>`, an inline policy named `<role ARN>/<policy name>`). Set against
the identity policies of the stack's roles, the record shows which statements the software that ran
(the conformance layer, the local pipelines platform) relied on, and which it never needed: a grant
that no run exercised is a candidate for removal, or a path that no test covers.

What "exercised" means here: a statement is counted when it was the first that allowed a call. A
statement that only repeats a grant another statement already gave counts as unused, which is the
point (it grants nothing more). The record holds the emulator's latest 10,000 decisions.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.iam_enforcement import DECISIONS_PATH


@dataclass(frozen=True)
class Statement:
    label: str
    """`<policy>#<Sid or position>`, as the decisions record names it."""
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass
class RoleAudit:
    logical_id: str
    role_arn: str
    statements: list[Statement] = field(default_factory=list)
    used: dict[str, int] = field(default_factory=dict)
    """label of one of the role's statements -> how many calls it allowed."""
    resource_grants: dict[str, int] = field(default_factory=dict)
    """label of a resource's policy statement (`key policy#3`, `bucket policy#0`) -> how many of the
    role's calls it allowed: those calls needed no statement of the role."""
    refused: list[str] = field(default_factory=list)
    """`<action> on <resource>` of each refused call, once."""

    @property
    def unused(self) -> list[Statement]:
        return [s for s in self.statements if s.label not in self.used]

    @property
    def sessions_seen(self) -> bool:
        return bool(self.used or self.resource_grants or self.refused)


def decisions(endpoint: str) -> list[dict[str, Any]]:
    """The emulator's decisions record, oldest first."""
    try:
        with urllib.request.urlopen(endpoint + DECISIONS_PATH, timeout=10) as answer:
            body: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raise LookupError(
            f"the emulator at {endpoint} has no decisions record (HTTP {error.code}): it was started by an "
            "older blog-infra; restart it with 'blog-infra local down' and 'blog-infra local up'"
        ) from None
    return list(body.get("decisions") or [])


def _as_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _statements(name: str, document: Mapping[str, Any]) -> list[Statement]:
    raw = document.get("Statement") or []
    statements = raw if isinstance(raw, list) else [raw]
    found = []
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        label = f"{name}#{statement.get('Sid') or index}"
        found.append(Statement(label, _as_list(statement.get("Action")), _as_list(statement.get("Resource"))))
    return found


def _role_statements(iam: Any, role_arn: str) -> list[Statement]:
    """The Allow statements of the role's inline and attached policies, labelled as the record labels
    them (an inline policy as `<role ARN>/<policy name>`, a managed one by its ARN)."""
    role_name = role_arn.rsplit("/", 1)[1]
    statements: list[Statement] = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        label = f"{role_arn}/{name}"
        statements += _statements(label, document if isinstance(document, dict) else json.loads(document))
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        statements += _statements(arn, document if isinstance(document, dict) else json.loads(document))
    return statements


def audit(iam: Any, roles: Mapping[str, str], record: Iterable[Mapping[str, Any]]) -> list[RoleAudit]:
    """For each role (logical id -> role ARN): its statements, which ones the record's calls used, and
    the calls refused to it."""
    audits = {arn: RoleAudit(logical, arn, _role_statements(iam, arn)) for logical, arn in roles.items()}
    for decision in record:
        entry = audits.get(str(decision.get("role") or ""))
        if entry is None:
            continue
        if decision.get("decision") == "allow":
            own = {statement.label for statement in entry.statements}
            for label in decision.get("allowed_by") or []:
                counts = entry.used if label in own else entry.resource_grants
                counts[label] = counts.get(label, 0) + 1
        else:
            call = f"{decision.get('action')} on {decision.get('resource')}"
            if call not in entry.refused:
                entry.refused.append(call)
    return sorted(audits.values(), key=lambda a: a.logical_id)


def stack_roles(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Logical id -> ARN of every `AWS::IAM::Role` of the deployed stack (role names, resolved through
    IAM by the caller's account)."""
    roles: dict[str, str] = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::IAM::Role":
                roles[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return roles


def role_arns(iam: Any, roles: Mapping[str, str]) -> dict[str, str]:
    """Logical id -> role ARN, for roles given by name (CloudFormation's physical id of a role)."""
    return {logical: iam.get_role(RoleName=name)["Role"]["Arn"] for logical, name in roles.items()}


def as_json(audits: Iterable[RoleAudit]) -> list[dict[str, Any]]:
    return [
        {
            "role": a.logical_id,
            "arn": a.role_arn,
            "sessions_seen": a.sessions_seen,
            "statements": len(a.statements),
            "used": [{"statement": label, "calls": calls} for label, calls in sorted(a.used.items())],
            "allowed_by_resource_policies": [
                {"statement": label, "calls": calls} for label, calls in sorted(a.resource_grants.items())
            ],
            "unused": [
                {"statement": s.label, "actions": list(s.actions), "resources": list(s.resources)}
                for s in a.unused
            ],
            "refused": a.refused,
        }
        for a in audits
    ]
