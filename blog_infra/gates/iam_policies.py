"""The IAM reference gate: every policy statement of the templates against the IAM Service
Authorization Reference, so that what a template grants is what AWS will honour.

Statements come from identity policies (AWS::IAM::Policy, AWS::IAM::ManagedPolicy, the inline
`Policies` of roles, users and groups), trust policies of roles, and resource policies (bucket,
queue and topic policies, key policies, Secrets Manager resource policies, Lambda permissions).
Rules, each reported once per statement and action as written (`rule[subject]`):

- IAM-UNKNOWN-ACTION: an action, or a wildcard, that names no action of the reference.
- IAM-RESOURCE-TYPE: an action that applies to none of the statement's resources: no resource
  matches an ARN format of the resource types it supports, or it supports only `*`. The request
  is then evaluated against a resource the statement does not name, and AWS denies it.
  A wildcard action (`s3:Get*`) is expanded; it is reported when none of its actions applies.
- IAM-CONDITION-KEY: a condition key that is not a global `aws:` key and that the reference does
  not list for the action. The key is then absent from the request context, where every
  condition operator but `...IfExists` and `Null` is false for an absent key (IAM JSON policy
  elements: Condition operators), so the statement never applies as intended.
- IAM-UNRESOLVED: a resource (or policy document) the gate cannot turn into an ARN pattern; it is
  failing, never passed, so that a resource type the resolver does not know is seen.

`Action: "*"` is checked for nothing but its presence; `NotAction` for the existence of what it
lists; `NotResource` is not matched against resource types. Keys of an identity provider (named by
its URL, e.g. `oidc.circleci.com/org/<id>:sub`) are accepted on `sts:AssumeRoleWithWebIdentity`
(IAM User Guide: Available keys for AWS OIDC federation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from blog_infra.gates import Finding, GateResult, dedupe
from blog_infra.gates.iam_arns import (
    Exports,
    Pattern,
    Resolver,
    Unresolved,
    format_pattern,
    intersects,
    literal,
    shown,
)
from blog_infra.gates.iam_reference import (
    ActionFacts,
    ReferenceUnavailable,
    database_version,
    expand,
    facts,
    supports_key,
)
from infra.gates import AppliedAcknowledgements, Gate

UNKNOWN_ACTION = "IAM-UNKNOWN-ACTION"
RESOURCE_TYPE = "IAM-RESOURCE-TYPE"
CONDITION_KEY = "IAM-CONDITION-KEY"
UNRESOLVED = "IAM-UNRESOLVED"
RULES = (UNKNOWN_ACTION, RESOURCE_TYPE, CONDITION_KEY, UNRESOLVED)
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
_ALL = literal("*")


@dataclass(frozen=True)
class Statement:
    """One statement of one policy of one resource."""

    logical_id: str
    where: str
    """Location inside the resource: `PolicyDocument/Statement/<Sid or index>`."""
    body: Mapping[str, Any]
    own_resource: Any = None
    """What a statement without `Resource` applies to (the role of a trust policy, the function of
    a Lambda permission); None where the gate does not check a missing Resource."""

    @property
    def location(self) -> str:
        return f"{self.logical_id}/{self.where}"


@dataclass(frozen=True)
class Problem:
    """A finding before acknowledgements: rule, subject, message."""

    rule: str
    subject: str
    message: str


@dataclass
class _Document:
    logical_id: str
    where: str
    document: Any
    own_resource: Any = None
    problems: list[Problem] = field(default_factory=list)


def _documents(logical_id: str, resource: Mapping[str, Any]) -> Iterator[_Document]:
    """The policy documents a resource carries, with where they sit."""
    kind = resource.get("Type")
    properties = resource.get("Properties") or {}
    if kind in (
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
    ):
        yield _Document(logical_id, "PolicyDocument", properties.get("PolicyDocument"))
    elif kind == "AWS::KMS::Key":
        yield _Document(logical_id, "KeyPolicy", properties.get("KeyPolicy"), own_resource="*")
    elif kind == "AWS::SecretsManager::ResourcePolicy":
        yield _Document(
            logical_id,
            "ResourcePolicy",
            properties.get("ResourcePolicy"),
            own_resource=properties.get("SecretId"),
        )
    elif kind == "AWS::Lambda::Permission":
        statement = {
            "Action": properties.get("Action"),
            "Resource": _function_arn(properties.get("FunctionName")),
        }
        yield _Document(logical_id, "Permission", {"Statement": [statement]})
    if kind in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        if kind == "AWS::IAM::Role":
            role = {"Fn::GetAtt": [logical_id, "Arn"]}
            yield _Document(
                logical_id, "AssumeRolePolicyDocument", properties.get("AssumeRolePolicyDocument"), role
            )
        for index, policy in enumerate(properties.get("Policies") or []):
            name = policy.get("PolicyName") if isinstance(policy, dict) else None
            label = name if isinstance(name, str) else str(index)
            document = policy.get("PolicyDocument") if isinstance(policy, dict) else None
            yield _Document(logical_id, f"Policies/{label}", document)


def _function_arn(name: Any) -> Any:
    """A Lambda permission's FunctionName (a name, an ARN or a partial ARN) as an ARN."""
    if isinstance(name, str) and name.startswith("arn:"):
        return name
    if isinstance(name, dict) and "Fn::GetAtt" in name:
        return name
    region_account = [":lambda:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":function:"]
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, *region_account, name]]}


def statements(template: Mapping[str, Any]) -> tuple[list[Statement], list[tuple[str, Problem]]]:
    """Every statement of every policy of `template`, and the documents that cannot be read."""
    found: list[Statement] = []
    unreadable: list[tuple[str, Problem]] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        for document in _documents(logical_id, resource):
            body = document.document
            if isinstance(body, str):
                try:
                    body = json.loads(body)
                except json.JSONDecodeError:
                    body = None
            listed = body.get("Statement", []) if isinstance(body, dict) and not _is_intrinsic(body) else None
            if listed is None or _is_intrinsic(listed):
                problem = Problem(
                    UNRESOLVED,
                    document.where,
                    "the policy document is not a JSON object the gate can read "
                    "(it is computed at deploy time); write it as a literal document",
                )
                unreadable.append((f"{logical_id}/{document.where}", problem))
                continue
            for index, statement in enumerate(listed if isinstance(listed, list) else [listed]):
                if not isinstance(statement, dict) or _is_intrinsic(statement):
                    where = f"{document.where}/Statement/{index}"
                    problem = Problem(
                        UNRESOLVED,
                        where,
                        "the statement is computed at deploy time (an intrinsic function); write it out",
                    )
                    unreadable.append((f"{logical_id}/{where}", problem))
                    continue
                sid = statement.get("Sid")
                label = sid if isinstance(sid, str) and sid else str(index)
                found.append(
                    Statement(
                        logical_id=logical_id,
                        where=f"{document.where}/Statement/{label}",
                        body=statement,
                        own_resource=document.own_resource,
                    )
                )
    return found, unreadable


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and any(key == "Ref" or key.startswith("Fn::") for key in value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_keys(body: Mapping[str, Any], problems: list[Problem]) -> list[str]:
    condition = body.get("Condition")
    if condition is None:
        return []
    blocks = condition.values() if isinstance(condition, dict) and not _is_intrinsic(condition) else None
    if blocks is None or not all(isinstance(b, dict) and not _is_intrinsic(b) for b in blocks):
        message = "the Condition is computed at deploy time (an intrinsic function); write it literally"
        problems.append(Problem(UNRESOLVED, "Condition", message))
        return []
    keys: dict[str, None] = {}
    for block in blocks:
        keys.update(dict.fromkeys(str(key) for key in block))
    return list(keys)


def _applies(action: ActionFacts, resources: list[Pattern]) -> bool:
    """Whether one of `resources` can name a resource that `action` is authorized on."""
    if not action.arn_formats:
        return any(intersects(resource, _ALL) for resource in resources)
    return any(
        intersects(resource, format_pattern(arn_format))
        for resource in resources
        for _, arn_format in action.arn_formats
    )


def _is_identity_provider_key(action: str, key: str) -> bool:
    prefix = key.rpartition(":")[0]
    return action == WEB_IDENTITY and "." in prefix


def check_statement(statement: Statement, resolver: Resolver) -> list[Problem]:
    """The problems of one statement."""
    body = statement.body
    problems: list[Problem] = []
    negated = "NotAction" in body
    written = _as_list(body.get("NotAction" if negated else "Action"))
    expanded: dict[str, tuple[str, ...] | None] = {}
    for action in written:
        if not isinstance(action, str):
            problems.append(Problem(UNRESOLVED, "Action", f"action {json.dumps(action)} is not a string"))
        elif action == "*":
            expanded[action] = None
        elif ":" not in action:
            problems.append(
                Problem(
                    UNKNOWN_ACTION, action, f"{action!r} is not 'service:Action'; name the service prefix"
                )
            )
        elif not (names := expand(action)):
            problems.append(Problem(UNKNOWN_ACTION, action, _unknown_message(action)))
        else:
            expanded[action] = names
    if negated:
        return problems
    resources, undecided = _resources(statement, resolver, problems)
    keys = [key for key in _condition_keys(body, problems) if not key.lower().startswith("aws:")]
    for action, expansion in expanded.items():
        if expansion is None:
            continue
        entries = [facts(name) for name in expansion]
        applying = entries if resources is None else [e for e in entries if _applies(e, resources)]
        if resources is not None and not applying and not undecided:
            problems.append(Problem(RESOURCE_TYPE, action, _resource_message(action, entries, resources)))
        candidates = applying or entries
        for key in keys:
            if any(_is_identity_provider_key(e.action, key) or supports_key(e, key) for e in candidates):
                continue
            problems.append(Problem(CONDITION_KEY, f"{action}, {key}", _key_message(action, key, candidates)))
    return problems


def _resources(
    statement: Statement, resolver: Resolver, problems: list[Problem]
) -> tuple[list[Pattern] | None, bool]:
    """The statement's resources as patterns (None: not checked), and whether one was unresolved."""
    body = statement.body
    if "NotResource" in body:
        return None, False
    if "Resource" in body:
        values = _as_list(body["Resource"])
    elif statement.own_resource is not None:
        values = [statement.own_resource]
    else:
        return None, False
    patterns: list[Pattern] = []
    undecided = False
    for index, value in enumerate(values):
        try:
            patterns.extend(resolver.resolve(value))
        except Unresolved as reason:
            undecided = True
            problems.append(
                Problem(
                    UNRESOLVED,
                    f"Resource/{index}",
                    f"cannot tell which ARNs {json.dumps(value, separators=(',', ':'))} names: {reason}; "
                    "write it with Fn::Join/Fn::Sub of ARN parts, or teach the resolver this value",
                )
            )
    return patterns, undecided


def _unknown_message(action: str) -> str:
    service = action.partition(":")[0]
    reference = f"the IAM reference ({database_version()})"
    if not expand(f"{service}:*"):
        return f"{service!r} is not a service prefix of {reference}; check the spelling"
    what = "matches no action" if any(c in action for c in "*?") else "is not an action"
    return f"{action} {what} of {service.lower()} in {reference}; check the spelling"


def _resource_message(action: str, entries: list[ActionFacts], resources: list[Pattern]) -> str:
    named = ", ".join(sorted({shown(r) for r in resources}))
    if len(entries) == 1 and not entries[0].arn_formats:
        return (
            f'{entries[0].action} supports only Resource "*" (no resource-level permissions), so this '
            f'statement on {named} grants nothing; move it to a statement with Resource "*"'
        )
    formats = sorted({f"{kind} ({arn_format})" for e in entries for kind, arn_format in e.arn_formats})
    only_star = "" if all(e.arn_formats for e in entries) else '; some support only "*"'
    listed = "; ".join(formats[:4]) + (f"; and {len(formats) - 4} more" if len(formats) > 4 else "")
    return (
        f"{action} applies to {listed or 'no resource type'}{only_star}; none matches {named}, so AWS "
        "denies it; grant it on a matching ARN or drop it"
    )


def _key_message(action: str, key: str, entries: list[ActionFacts]) -> str:
    return (
        f"{key} is not a condition key of {action} in the IAM reference, so it is absent from its "
        "requests and the condition is false (true with ...IfExists); use a key the action supports "
        "or move the action to its own statement"
        + ("" if len(entries) == 1 else f" (checked against its {len(entries)} actions)")
    )


@cache
def _exports_of(directory: Path) -> Exports:
    exports: dict[str, tuple[Any, Resolver]] = {}
    for path in sorted(directory.glob("*.template.json")):
        template = json.loads(path.read_text(encoding="utf-8"))
        resolver = _resolver(template, directory)
        for output in (template.get("Outputs") or {}).values():
            name = (output.get("Export") or {}).get("Name") if isinstance(output, dict) else None
            if isinstance(name, str):
                exports[name] = (output.get("Value"), resolver)
    return exports


def _resolver(template: Mapping[str, Any], directory: Path | None) -> Resolver:
    resources = template.get("Resources") or {}
    if directory is None:
        return Resolver(resources=resources)
    return Resolver(resources=resources, exports=lambda: _exports_of(directory))


def template_problems(
    template: Mapping[str, Any], directory: Path | None = None
) -> tuple[int, list[tuple[Statement | None, str, Problem]]]:
    """(statements checked, problems with the statement and location they belong to) of a template;
    `directory` holds the assembly's other templates, for `Fn::ImportValue`."""
    resolver = _resolver(template, directory)
    found, unreadable = statements(template)
    problems: list[tuple[Statement | None, str, Problem]] = [(None, where, p) for where, p in unreadable]
    for statement in found:
        problems.extend((statement, statement.location, p) for p in check_statement(statement, resolver))
    return len(found), problems


def iam_result(directory: Path, acknowledgements: AppliedAcknowledgements) -> GateResult:
    """The IAM reference gate on every template of the cloud assembly in `directory`."""
    result = GateResult(gate=Gate.IAM_REFERENCE.value, env=acknowledgements.env, evaluated="")
    try:
        version = database_version()
    except ReferenceUnavailable as exc:
        result.evaluated = "not run"
        result.failing.append(Finding(gate=result.gate, rule="reference", resource="-", message=str(exc)))
        return result
    _exports_of.cache_clear()
    main = acknowledgements.stack_name
    checked = 0
    for path in sorted(directory.glob("*.template.json")):
        stack_name = path.name.removesuffix(".template.json")
        count, problems = template_problems(json.loads(path.read_text(encoding="utf-8")), directory)
        checked += count
        for statement, where, problem in problems:
            logical_id = statement.logical_id if statement else where.partition("/")[0]
            shown_where = where if stack_name == main else f"{stack_name}:{where}"
            entry = _entry(acknowledgements, problem, logical_id if stack_name == main else None)
            finding = Finding(
                gate=result.gate,
                rule=f"{problem.rule}[{problem.subject}]",
                resource=shown_where,
                message=problem.message,
                acknowledgement=entry,
            )
            (result.failing if entry is None else result.acknowledged).append(finding)
    result.evaluated = f"{checked} statement{'' if checked == 1 else 's'} ({version})"
    result.acknowledged = dedupe(result.acknowledged)
    result.failing = dedupe(result.failing)
    return result


def _entry(acknowledgements: AppliedAcknowledgements, problem: Problem, logical_id: str | None) -> int | None:
    """The file entry acknowledging `problem` on `logical_id`: one naming its subject, or its rule."""
    if logical_id is None:
        return None
    for rule_id in (f"{problem.rule}[{problem.subject}]", problem.rule):
        entry = acknowledgements.entry_for(Gate.IAM_REFERENCE, rule_id, logical_id=logical_id)
        if entry is not None:
            return entry.number
    return None
