"""AWS's policy evaluation for requests within one account, on policy documents already resolved to
concrete ARNs. Pure Python: a fact about AWS, shared by the platform's template checks and the
emulator.

The rules implemented, each with the AWS page that states it:

- An explicit Deny in any applicable policy wins; without an Allow the request is implicitly denied
  (IAM User Guide, "How AWS enforcement code logic evaluates requests to allow or deny access").
- Within one account, an Allow in the principal's identity-based policies OR in the resource's policy
  is enough: "If either the identity-based policy or the resource-based policy within the same account
  allows the request and the other doesn't, the request is still allowed" (IAM User Guide, "Policy
  evaluation for requests within a single account"). A resource policy that names the account (its
  root) rather than the role delegates to the account's identity policies and grants nothing itself.
- Role trust policies, like KMS key policies, must allow: "Role trust policies and KMS key policies are
  exceptions to this logic, because they must explicitly allow access for principals" (same page). So
  `sts:AssumeRole*` is allowed when the trust policy names the principal, or names its account and an
  identity policy of the principal allows the call.
- KMS keys: the key policy must allow. "Unless the key policy explicitly allows it, you cannot use IAM
  policies to allow access to a KMS key. Without permission from the key policy, IAM policies that
  allow permissions have no effect." The default statement that allows the account root "enables IAM
  policies" (KMS Developer Guide, "Key policies in AWS KMS", "Default key policy"). So a KMS request is
  allowed when the key policy allows the role itself, or when it allows the account root and an
  identity policy allows the role; in both cases no Deny applies. Grants are not modeled.
- Action, NotAction, Resource, NotResource with the wildcards `*` and `?` (case-insensitive for actions,
  case-sensitive for ARNs); Principal and NotPrincipal (`*`, an account id, a root or role ARN, and
  the `Federated` and `Service` principal types). A role session is named by its session ARN and by its
  role's ARN (IAM User Guide, "AWS JSON policy elements: Principal", role and role session principals).
- Condition blocks: operators AND-ed, keys within an operator AND-ed, a key's values OR-ed. A key
  absent from the request context makes the condition false, except for negated operators (true), the
  `...IfExists` forms (true) and `Null` (tested) (IAM User Guide, "IAM JSON policy elements: Condition
  operators").

Condition operators evaluated: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike, ArnNotLike,
Bool, NumericEquals, NumericNotEquals, NumericLessThan, NumericLessThanEquals, NumericGreaterThan,
NumericGreaterThanEquals, Null, and each with `IfExists`.

Not evaluated, each raising `NotEvaluated` so that a policy that uses it cannot be passed silently:
the `ForAnyValue:`/`ForAllValues:` set qualifiers, Date*, IpAddress/NotIpAddress, Binary*, and policy
variables (`${aws:username}`). Not modeled at all: service control policies, resource control
policies, permissions boundaries, session policies, KMS grants and cross-account requests; a real
account with any of them can deny what this evaluator allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NotEvaluated(Exception):
    """A policy element this evaluator does not evaluate, named in one line."""


class Decision(StrEnum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    """One API request by a principal of the account."""

    principal: str
    """ARN of the principal (`arn:aws:iam::<account>:role/<name>`, a user or a role session), or the
    identity provider's ARN for a `Federated` principal."""
    action: str
    """`service:Action`, e.g. `secretsmanager:GetSecretValue`."""
    resource: str
    """ARN of the resource."""
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    """Condition keys of the request, e.g. `aws:SecureTransport`, `kms:ViaService`."""
    principal_type: str = "AWS"
    """The key of a policy's `Principal` element that can name this principal: `AWS` or `Federated`."""
    principal_names: tuple[str, ...] = ()
    """Other ARNs that name the same principal, e.g. the role's ARN for one of its sessions."""
    absent_keys: tuple[str, ...] | None = None
    """When given, `context` is complete but for these keys (patterns with `*`), which AWS would not
    supply either: a condition on any other key missing from `context` raises `NotEvaluated` rather
    than count as absent. When None, a key missing from `context` is absent."""

    @property
    def account(self) -> str:
        return self.principal.split(":")[4]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not document:
        return []
    return _as_list(document.get("Statement"))


_PATTERNS: dict[tuple[str, bool], re.Pattern[str]] = {}


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's `*` (any run of characters) and `?` (one character)."""
    if "${" in pattern:
        raise NotEvaluated(f"policy variable in {pattern!r} is not evaluated")
    key = (pattern, case_sensitive)
    compiled = _PATTERNS.get(key)
    if compiled is None:
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = re.compile(f"^{body}$", re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)
        _PATTERNS[key] = compiled
    return compiled.match(value) is not None


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            wildcard_match(a, action, case_sensitive=False) for a in _as_list(statement["NotAction"])
        )
    return any(wildcard_match(a, action, case_sensitive=False) for a in _as_list(statement.get("Action")))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(r, resource) for r in _as_list(statement["NotResource"]))
    if "Resource" not in statement:
        return True  # resource policies (key policies) may leave it to the resource they are attached to
    return any(wildcard_match(r, resource) for r in _as_list(statement["Resource"]))


def _root(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


class PrincipalMatch(StrEnum):
    NONE = "none"
    ROLE = "role"
    """The statement names the principal (or everyone)."""
    ACCOUNT = "account"
    """The statement names the account: it delegates to the account's identity policies."""


def _principal_match(statement: Mapping[str, Any], request: Request) -> PrincipalMatch:
    def match(principal: Any) -> PrincipalMatch:
        if principal == "*":
            return PrincipalMatch.ROLE
        if not isinstance(principal, Mapping):
            return PrincipalMatch.NONE
        found = PrincipalMatch.NONE
        for value in _as_list(principal.get(request.principal_type)):
            text = str(value)
            if text == "*" or text == request.principal or text in request.principal_names:
                return PrincipalMatch.ROLE
            if request.principal_type == "AWS" and text in (request.account, _root(request.account)):
                found = PrincipalMatch.ACCOUNT
        return found

    if "NotPrincipal" in statement:
        return (
            PrincipalMatch.NONE
            if match(statement["NotPrincipal"]) is not PrincipalMatch.NONE
            else PrincipalMatch.ROLE
        )
    return match(statement.get("Principal"))


# --- conditions -----------------------------------------------------------------------------------------


def _strings(values: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(values)]


def _compare(base: str, expected: str, actual: str) -> bool:
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        return expected == actual if base.startswith("String") else wildcard_match(expected, actual)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return expected.lower() == actual.lower()
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return wildcard_match(expected, actual)
    if base == "Bool":
        return expected.lower() == actual.lower()
    if base.startswith("Numeric"):
        left, right = float(actual), float(expected)
        return {
            "NumericEquals": left == right,
            "NumericNotEquals": left == right,
            "NumericLessThan": left < right,
            "NumericLessThanEquals": left <= right,
            "NumericGreaterThan": left > right,
            "NumericGreaterThanEquals": left >= right,
        }[base]
    raise NotEvaluated(f"condition operator {base} is not evaluated")


_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}
_KNOWN = _NEGATED | {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
}


def condition_holds(
    operator: str,
    key: str,
    expected: Any,
    context: Mapping[str, Any],
    absent_keys: Sequence[str] | None = None,
) -> bool:
    """One operator on one key. With `absent_keys` (see `Request.absent_keys`), a key missing from
    `context` that none of them matches raises `NotEvaluated` naming it."""
    if ":" in operator and operator.split(":")[0] in ("ForAnyValue", "ForAllValues"):
        raise NotEvaluated(f"set operator {operator} is not evaluated")
    present = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    if (
        present is None
        and absent_keys is not None
        and not any(wildcard_match(p, key, case_sensitive=False) for p in absent_keys)
    ):
        raise NotEvaluated(f"condition key {key} is not supplied for this request")
    if operator == "Null":
        wants_absent = _strings(expected)[0] == "true"
        return (present is None) == wants_absent
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base not in _KNOWN:
        raise NotEvaluated(f"condition operator {operator} is not evaluated")
    if present is None:
        return if_exists or base in _NEGATED
    actual = _strings(present)
    matched = any(_compare(base, e, a) for e in _strings(expected) for a in actual)
    return not matched if base in _NEGATED else matched


def conditions_hold(
    statement: Mapping[str, Any], context: Mapping[str, Any], absent_keys: Sequence[str] | None = None
) -> bool:
    return all(
        condition_holds(operator, key, expected, context, absent_keys)
        for operator, block in (statement.get("Condition") or {}).items()
        for key, expected in block.items()
    )


# --- decisions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    deny: bool = False
    allow_role: bool = False
    """An Allow that names the role (identity policy, or resource policy naming it or everyone)."""
    allow_account: bool = False
    """An Allow in a resource policy that names the account root."""
    allowed_by: str = ""
    """The first Allow statement that names the role, as `<policy>#<Sid or index>`."""
    delegated_by: str = ""
    """The first Allow statement that names the account root, likewise."""


def _applicable(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> PrincipalMatch:
    if not _action_matches(statement, request.action) or not _resource_matches(statement, request.resource):
        return PrincipalMatch.NONE
    principal = _principal_match(statement, request) if resource_policy else PrincipalMatch.ROLE
    if principal is PrincipalMatch.NONE or not conditions_hold(
        statement, request.context, request.absent_keys
    ):
        return PrincipalMatch.NONE
    return principal


def _label(name: str, index: int, statement: Mapping[str, Any]) -> str:
    return f"{name}#{statement.get('Sid') or index}"


def verdict(
    documents: Iterable[Mapping[str, Any] | None],
    request: Request,
    *,
    resource_policy: bool,
    names: Sequence[str] = (),
) -> Verdict:
    """What the statements of `documents` say about `request`; `names` name the documents in
    `allowed_by` (their position when absent)."""
    deny = allow_role = allow_account = False
    allowed_by = delegated_by = ""
    for position, document in enumerate(documents):
        name = names[position] if position < len(names) else str(position)
        for index, statement in enumerate(statements(document)):
            match = _applicable(statement, request, resource_policy=resource_policy)
            if match is PrincipalMatch.NONE:
                continue
            if statement.get("Effect") == "Deny":
                # A Deny that names the account applies to every principal of it.
                deny = True
            elif match is PrincipalMatch.ROLE:
                allow_role = True
                allowed_by = allowed_by or _label(name, index, statement)
            else:
                allow_account = True
                delegated_by = delegated_by or _label(name, index, statement)
    return Verdict(deny, allow_role, allow_account, allowed_by, delegated_by)


@dataclass(frozen=True)
class Evaluation:
    """A decision and what made it: the statements that allowed, or where the deny came from."""

    decision: Decision
    allowed_by: tuple[str, ...] = ()
    """For an allow: the statement(s) that allowed, `<policy>#<Sid or index>` (for a key or trust
    policy that delegates to the account: its statement, then the identity statement)."""
    denied_in: str = ""
    """For a deny: `identity-based policy` or `resource-based policy`, the words of AWS's refusals."""


def explain(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any] | None],
    resource_policy: Mapping[str, Any] | None = None,
    *,
    key_policy: bool = False,
    trust_policy: bool = False,
    identity_names: Sequence[str] = (),
    resource_name: str = "resource policy",
) -> Evaluation:
    """The decision for `request` and why. `resource_policy` is the resource's own policy (bucket
    policy, secret policy, key policy, trust policy); with `key_policy` it is a KMS key policy and with
    `trust_policy` a role's trust policy, either of which must allow. An implicit deny names the policy
    that lacks the Allow: the resource-based one where it must allow, else the identity-based ones
    (AWS's refusals say "because no identity-based policy allows the <action> action": IAM User Guide,
    "Troubleshoot access denied error messages")."""
    identity = verdict(identity_policies, request, resource_policy=False, names=identity_names)
    resource = verdict([resource_policy], request, resource_policy=True, names=[resource_name])
    if identity.deny:
        return Evaluation(Decision.EXPLICIT_DENY, denied_in="identity-based policy")
    if resource.deny:
        return Evaluation(Decision.EXPLICIT_DENY, denied_in="resource-based policy")
    if key_policy or trust_policy:
        if resource.allow_role:
            return Evaluation(Decision.ALLOW, (resource.allowed_by,))
        if resource.allow_account and identity.allow_role:
            return Evaluation(Decision.ALLOW, (resource.delegated_by, identity.allowed_by))
        lacking = "identity-based policy" if resource.allow_account else "resource-based policy"
        return Evaluation(Decision.IMPLICIT_DENY, denied_in=lacking)
    if identity.allow_role:
        return Evaluation(Decision.ALLOW, (identity.allowed_by,))
    if resource.allow_role:
        return Evaluation(Decision.ALLOW, (resource.allowed_by,))
    return Evaluation(Decision.IMPLICIT_DENY, denied_in="identity-based policy")


def evaluate(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any] | None],
    resource_policy: Mapping[str, Any] | None = None,
    *,
    key_policy: bool = False,
    trust_policy: bool = False,
) -> Decision:
    """The decision of `explain`, alone."""
    return explain(
        request, identity_policies, resource_policy, key_policy=key_policy, trust_policy=trust_policy
    ).decision
