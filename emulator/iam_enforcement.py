"""STS checks a role's trust policy before it issues the role's credentials, as AWS does.

moto's `AssumeRole` and `AssumeRoleWithWebIdentity` hand out credentials for any role to any caller
(the role need not even exist). With this module, each call is decided by `aws_policy.evaluation` on
the role's trust policy and, where that policy delegates to the caller's account, the caller's
identity policies. The check has three modes, switched at run time through `MODE_PATH` (GET answers
`{"mode": ...}`; POST `{"mode": "off" | "audit" | "enforce"}` sets it):

- `off` (the default): moto's behaviour, nothing evaluated;
- `audit`: every call is allowed; a call AWS would refuse is logged to the emulator's log
  (logger `emulator.iam`, level WARNING) with the reason;
- `enforce`: a call AWS would refuse is answered as AWS answers it.

`emulator.iam_authorization` applies the same modes to S3, SQS, SNS, Secrets Manager, KMS, ECS, SSM
and CloudWatch Logs. Every request either module evaluates, allowed or not, is appended to a bounded
decisions record (`DECISIONS_PATH`: GET lists it as JSON, DELETE clears it) with the caller, the
role of a session, the action, the resource, the decision and, for an allow, the statements that
allowed it, so that a run can show which grants were used and which never were.

AWS's rules applied, with the pages that state them:

- The trust policy must allow: "Role trust policies and KMS key policies are exceptions to this
  logic, because they must explicitly allow access for principals" (IAM User Guide, "Policy evaluation
  for requests within a single account"). A trust policy that names the caller's account (its root or
  its id) delegates to the caller's identity policies, which must then allow `sts:AssumeRole` on the
  role; one that names the caller (its ARN, or for a role session its role's ARN) allows it alone
  (IAM User Guide, "AWS JSON policy elements: Principal").
- `AssumeRole`: the caller is the principal of the request's credentials. moto knows them as a role
  session (credentials it issued), an IAM user (an access key of a user) or, for any other key, the
  identity its `GetCallerIdentity` reports for that key (`arn:aws:sts::<account>:user/moto`). The
  request carries the condition keys `aws:PrincipalArn` (the role's ARN for a role session),
  `aws:PrincipalAccount`, `aws:SecureTransport` (true: see `emulator.policy`), `sts:RoleSessionName`
  and, when given, `sts:ExternalId` (IAM User Guide, "AWS global condition context keys" and "IAM and
  AWS STS condition context keys"). A refusal is STS's `AccessDenied` (HTTP 403) with "User: <caller
  ARN> is not authorized to perform: sts:AssumeRole on resource: <role ARN>".
- `AssumeRoleWithWebIdentity`: the principal is the account's OIDC provider for the token's issuer,
  as a `Federated` principal (`arn:aws:iam::<account>:oidc-provider/<issuer without https://>`); the
  token's claims are the condition keys `<issuer>:sub` and `<issuer>:aud` (IAM User Guide, "IAM and
  AWS STS condition context keys", the keys available for web identity federation). That page maps
  `aud` to the token's `azp` claim when it has one and `oaud` to its `aud` claim, for Google's keys;
  the emulator does the same for every issuer, which differs only for tokens that carry `azp` (GitHub's
  and CircleCI's do not). A token whose issuer has no OIDC
  provider in the role's account is refused with `InvalidIdentityToken`; a refusal by the trust policy
  is `AccessDenied` (HTTP 403) with "Not authorized to perform sts:AssumeRoleWithWebIdentity", the
  message STS answers.

Choices of the emulator, not AWS's: credentials moto knows nothing of (the emulator's default ones)
act as an administrator of the account, because moto applies no identity policy to them on any other
API either; so they may assume every role whose trust policy names the account, and none that trusts
only a service or a federated provider. On AWS the root user cannot assume roles at all (IAM User
Guide, "Switch to an IAM role (AWS CLI)"); the emulator's default credentials are not treated as the
root user for that reason. A policy element the evaluator does not evaluate (`NotEvaluated`) refuses
the call under `enforce` and is logged under `audit`.

Not modeled: the token's signature, expiry and audience against the provider's client IDs
(the emulator cannot fetch the issuer's keys); `AssumeRoleWithSAML`; session policies, permissions
boundaries, service and resource control policies; the cross-account rule that the caller's identity
policies must allow even when a trust policy in another account names the caller.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from moto.core.exceptions import AccessDeniedError
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse

from aws_policy.evaluation import Decision, Evaluation, NotEvaluated, Request, explain

MODE_PATH = "/_emulator/iam/enforcement"
DECISIONS_PATH = "/_emulator/iam/decisions"
DECISIONS_KEPT = 10_000
_log = logging.getLogger("emulator.iam")
_ADMINISTRATOR: dict[str, Any] = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class Mode(StrEnum):
    OFF = "off"
    AUDIT = "audit"
    ENFORCE = "enforce"


_state: dict[str, Mode] = {"mode": Mode.OFF}
_lock = threading.Lock()


def mode() -> Mode:
    return _state["mode"]


def set_mode(value: str) -> Mode:
    """Switch the check; raises ValueError naming the modes for an unknown one."""
    try:
        new = Mode(value)
    except ValueError:
        raise ValueError(f"mode must be one of {', '.join(m.value for m in Mode)}, not {value!r}") from None
    with _lock:
        _state["mode"] = new
    _log.info("IAM enforcement mode: %s", new.value)
    return new


_decisions: deque[dict[str, Any]] = deque(maxlen=DECISIONS_KEPT)


def record(
    caller: Caller,
    action: str,
    resource: str,
    decision: str,
    allowed_by: tuple[str, ...] = (),
    reason: str = "",
) -> None:
    """Append one evaluated request to the decisions record (the oldest go beyond `DECISIONS_KEPT`)."""
    entry: dict[str, Any] = {
        "principal": caller.arn,
        "role": caller.role_arn,
        "action": action,
        "resource": resource,
        "decision": decision,
        "mode": mode().value,
    }
    if allowed_by:
        entry["allowed_by"] = list(allowed_by)
    if reason:
        entry["reason"] = reason
    with _lock:
        _decisions.append(entry)


def handle_decisions(method: str) -> tuple[int, dict[str, Any]]:
    """GET: every decision recorded, oldest first; DELETE: forget them. (HTTP status, JSON answer)."""
    with _lock:
        if method == "DELETE":
            _decisions.clear()
        return 200, {"decisions": list(_decisions), "kept": DECISIONS_KEPT}


def handle_control(method: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """GET: the mode; POST {"mode": ...}: set it. (HTTP status, JSON answer)."""
    if method == "GET":
        return 200, {"mode": mode().value}
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise ValueError("the body must be a JSON object")
        return 200, {"mode": set_mode(str(request.get("mode", ""))).value}
    except ValueError as exc:
        return 400, {"error": str(exc)}


# --- the refusals, as STS answers them -----------------------------------------------------------------


class AssumeRoleDenied(AccessDeniedError):
    """STS's AccessDenied for AssumeRole: "User: <arn> is not authorized to perform: sts:AssumeRole on
    resource: <role arn>" (moto's own AccessDenied message, completed with the resource)."""

    def __init__(self, caller_arn: str, role_arn: str):
        super().__init__(user_arn=caller_arn, action=f"sts:AssumeRole on resource: {role_arn}")


class WebIdentityDenied(AccessDeniedError):
    """STS's AccessDenied for AssumeRoleWithWebIdentity, which names no caller."""

    def __init__(self) -> None:
        super(AccessDeniedError, self).__init__(
            "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        )


class InvalidIdentityToken(STSClientError):
    def __init__(self, message: str):
        super().__init__("InvalidIdentityToken", message)


# --- who asks, and what the role trusts ----------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    arn: str
    account: str
    names: tuple[str, ...]
    """Other ARNs that name the caller in a Principal element (a role session's role)."""
    principal_arn: str
    """`aws:PrincipalArn`: the role's ARN for a role session, else the caller's ARN."""
    identity_policies: tuple[Mapping[str, Any], ...]
    policy_names: tuple[str, ...] = ()
    """Names of `identity_policies`, in order, for the decisions record."""
    known: bool = True
    """False for credentials moto knows nothing of: the emulator's administrator."""
    role_arn: str | None = None
    """The role of a role session."""
    expiration: datetime | None = field(default=None, compare=False)
    """When a role session's credentials expire (UTC, naive as moto keeps it)."""


def _without_no_value(value: Any) -> Any:
    """The document as CloudFormation would have stored it. moto's CloudFormation resolves
    `Ref: AWS::NoValue` to null and keeps it, where CloudFormation removes the property or list element
    ("Removes the corresponding resource property when specified as a return value in the Fn::If
    intrinsic function": CloudFormation User Guide, "Pseudo parameters reference"). CDK's bootstrap
    roles have such conditional statements."""
    if isinstance(value, dict):
        return {k: _without_no_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_no_value(v) for v in value if v is not None]
    return value


def policy_document(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        parsed: Any = text
    else:
        raw = str(text)
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = json.loads(urllib.parse.unquote(raw))
    return _without_no_value(parsed) if isinstance(parsed, dict) else {}


def _managed(policies: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for arn, policy in policies.items():
        version = next((v for v in policy.versions if v.is_default), None)
        if version is not None:
            documents.append((str(arn), policy_document(version.document)))
    return documents


def _policies_of(entity: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, document) of each identity policy of a role, user or group: inline ones by
    `<entity ARN>/<policy name>`, managed ones by their ARN."""
    inline = [(f"{entity.arn}/{name}", policy_document(d)) for name, d in entity.policies.items()]
    return inline + _managed(entity.managed_policies)


def caller_of(response: Any) -> Caller:
    """The principal of a request's access key (any moto response object)."""
    key = response.get_access_key()
    account, partition = response.current_account, response.partition
    iam = iam_backends[account][partition]
    session = sts_backends[account][partition].get_assumed_role_from_access_key(key)
    if session is not None:
        try:
            policies = _policies_of(iam.get_role_by_arn(session.role_arn))
        except Exception:  # the role was deleted since: its sessions keep no policy
            policies = []
        return Caller(
            session.arn,
            account,
            (session.role_arn,),
            session.role_arn,
            tuple(d for _, d in policies),
            tuple(n for n, _ in policies),
            role_arn=session.role_arn,
            expiration=session.expiration,
        )
    user = iam.get_user_from_access_key_id(key)
    if user is not None:
        policies = _policies_of(user)
        for group in iam.get_groups_for_user(user.name):
            policies += _policies_of(group)
        return Caller(
            user.arn, account, (), user.arn, tuple(d for _, d in policies), tuple(n for n, _ in policies)
        )
    _, arn, account = sts_backends[account][partition].get_caller_identity(key, response.region)
    return Caller(arn, account, (), arn, (_ADMINISTRATOR,), ("administrator",), known=False)


def _trust_policy(role_arn: str, partition: str) -> dict[str, Any] | None:
    """The role's trust policy, or None when no such role exists (AWS then refuses the same way)."""
    parts = role_arn.split(":")
    if len(parts) < 6 or ":role/" not in role_arn:
        return None
    try:
        role = iam_backends[parts[4]][partition].get_role_by_arn(role_arn)
    except Exception:
        return None
    return policy_document(role.assume_role_policy_document)


def _decide(
    request: Request,
    identity: tuple[Mapping[str, Any], ...],
    trust: dict[str, Any] | None,
    names: tuple[str, ...] = (),
) -> tuple[str, Evaluation | None]:
    """Why AWS would refuse the request ("" when it allows it), and the evaluation."""
    if trust is None:
        return "the role does not exist", None
    try:
        evaluation = explain(
            request, identity, trust, trust_policy=True, identity_names=names, resource_name="trust policy"
        )
    except NotEvaluated as exc:
        return f"the policy cannot be evaluated: {exc}", None
    if evaluation.decision is Decision.ALLOW:
        return "", evaluation
    return f"{evaluation.decision.value} by the trust policy", evaluation


def _record_trust(caller: Caller, request: Request, reason: str, evaluation: Evaluation | None) -> None:
    if evaluation is not None and evaluation.decision is Decision.ALLOW:
        record(caller, request.action, request.resource, Decision.ALLOW.value, evaluation.allowed_by)
    else:
        decision = evaluation.decision.value if evaluation is not None else "refused"
        record(caller, request.action, request.resource, decision, reason=reason)


def _refuse(reason: str, what: str, error: Callable[[], Exception]) -> None:
    """Log the would-be refusal, and raise it under `enforce`."""
    current = mode()
    if not reason or current is Mode.OFF:
        return
    verb = "refused" if current is Mode.ENFORCE else "would refuse (audit)"
    _log.warning("%s %s: %s", verb, what, reason)
    if current is Mode.ENFORCE:
        raise error()


def check_assume_role(response: TokenResponse) -> None:
    role_arn = str(response._get_param("RoleArn") or "")
    caller = caller_of(response)
    context: dict[str, str] = {
        "aws:PrincipalArn": caller.principal_arn,
        "aws:PrincipalAccount": caller.account,
        "aws:SecureTransport": "true",
        "sts:RoleSessionName": str(response._get_param("RoleSessionName") or ""),
    }
    external_id = response._get_param("ExternalId")
    if external_id is not None:
        context["sts:ExternalId"] = str(external_id)
    request = Request(caller.arn, "sts:AssumeRole", role_arn, context, principal_names=caller.names)
    reason, evaluation = _decide(
        request, caller.identity_policies, _trust_policy(role_arn, response.partition), caller.policy_names
    )
    if caller.known:
        _record_trust(caller, request, reason, evaluation)
    _refuse(
        reason,
        f"sts:AssumeRole of {role_arn} by {caller.arn}",
        lambda: AssumeRoleDenied(caller.arn, role_arn),
    )


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error) as exc:
        raise ValueError(f"the web identity token is not a JWT: {exc}") from None
    if not isinstance(claims, dict):
        raise ValueError("the web identity token's payload is not a JSON object")
    return claims


def _provider_arn(issuer: str, account: str, partition: str) -> str | None:
    url = issuer.removeprefix("https://").rstrip("/")
    for arn, provider in iam_backends[account][partition].open_id_providers.items():
        if provider.url.rstrip("/") == url:
            return str(arn)
    return None


def check_assume_role_with_web_identity(response: TokenResponse) -> None:
    role_arn = str(response._get_param("RoleArn") or "")
    what = f"sts:AssumeRoleWithWebIdentity of {role_arn}"
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 4 else response.current_account
    try:
        claims = _claims(str(response._get_param("WebIdentityToken") or ""))
    except ValueError as exc:
        problem = str(exc)
        _refuse(problem, what, lambda: InvalidIdentityToken(problem))
        return
    issuer = str(claims.get("iss", ""))
    provider = _provider_arn(issuer, account, response.partition)
    if provider is None:
        message = f"No OpenIDConnect provider found in your account for {issuer}"
        _refuse(message, what, lambda: InvalidIdentityToken(message))
        return
    prefix = issuer.removeprefix("https://").rstrip("/")

    def strings(value: Any) -> str | list[str]:
        return [str(v) for v in value] if isinstance(value, list) else str(value)

    context: dict[str, str | list[str]] = {
        f"{prefix}:sub": str(claims.get("sub", "")),
        f"{prefix}:aud": strings(claims["azp"] if "azp" in claims else claims.get("aud", "")),
    }
    if "azp" in claims:
        context[f"{prefix}:oaud"] = strings(claims.get("aud", ""))
    request = Request(
        provider, "sts:AssumeRoleWithWebIdentity", role_arn, context, principal_type="Federated"
    )
    reason, evaluation = _decide(request, (), _trust_policy(role_arn, response.partition))
    _record_trust(Caller(provider, account, (), provider, ()), request, reason, evaluation)
    _refuse(reason, f"{what} by {provider}", WebIdentityDenied)


def _checked(original: Callable[[TokenResponse], Any], check: Callable[[TokenResponse], None]) -> Any:
    def call(self: TokenResponse) -> Any:
        if mode() is not Mode.OFF:
            check(self)
        return original(self)

    call._trust_checked = True  # type: ignore[attr-defined]
    return call


def install() -> None:
    """Put the trust-policy check in front of moto's two calls (idempotent)."""
    if getattr(TokenResponse.assume_role, "_trust_checked", False):
        return
    setattr(  # noqa: B010 (replacing a method)
        TokenResponse, "assume_role", _checked(TokenResponse.assume_role, check_assume_role)
    )
    setattr(  # noqa: B010
        TokenResponse,
        "assume_role_with_web_identity",
        _checked(TokenResponse.assume_role_with_web_identity, check_assume_role_with_web_identity),
    )
