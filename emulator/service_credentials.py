"""A service principal's session of a role: the credentials ECS and Lambda obtain for the roles they run
code with.

On AWS, a task's role is assumed by ECS (the service principal `ecs-tasks.amazonaws.com`) and a
function's execution role by Lambda (`lambda.amazonaws.com`); the role's trust policy must name that
service ("The task execution role grants the Amazon ECS container and Fargate agents permission",
"the trust relationship ... Principal: Service: ecs-tasks.amazonaws.com": Amazon ECS Developer Guide,
"Amazon ECS task IAM role"; "Lambda assumes the execution role": Lambda Developer Guide, "Defining
Lambda function permissions with an execution role"). No API of the emulator can be called *as* a
service principal, so the local ECS agent and Lambda runner ask for such a session here:

POST `PATH` with `{"service": "ecs-tasks.amazonaws.com", "roleArn": "...", "sessionName": "...",
"durationSeconds": 3600, "sourceAccount": "...", "sourceArn": "..."}` (the last three optional) answers
`{"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "RoleArn", "AssumedRoleArn"}`:
credentials of a session moto's STS issued (`STSBackend.assume_role`), so `GetCallerIdentity` with them
answers `arn:aws:sts::<account>:assumed-role/<role>/<session>` and every other check of the emulator
sees that role session.

The role's trust policy is decided by `aws_policy.evaluation` for the `Service` principal, with the
condition keys a service sets when it assumes a role on a resource's behalf: `aws:SourceAccount` and
`aws:SourceArn` (IAM User Guide, "AWS global condition context keys": "use aws:SourceArn and
aws:SourceAccount ... in role trust policies ... to prevent the confused deputy problem"). The mode is
the one of `emulator.iam_enforcement`: `off` issues without evaluating, `audit` issues and logs a
refusal AWS would make (logger `emulator.iam`, WARNING), `enforce` answers HTTP 403 with a JSON error
naming the role and the service. A role that does not exist is refused the same way; in `off` it is
issued, as moto's own `AssumeRole` does.

`durationSeconds` is checked as STS checks `DurationSeconds`: at least 900 and at most the role's
`MaxSessionDuration` (3600 unless the role sets more; STS API Reference, "AssumeRole").
Nothing here logs or records a credential.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from aws_policy.evaluation import Decision, NotEvaluated, Request, evaluate
from emulator import iam_enforcement

PATH = "/_emulator/sts/service-role-credentials"
MIN_DURATION = 900
DEFAULT_DURATION = 3600
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
"""`RoleSessionName`'s pattern and length (STS API Reference, "AssumeRole")."""
_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]+$"
)
_SERVICE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$")
_log = logging.getLogger("emulator.iam")

StartResponse = Callable[..., Any]


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _role(role_arn: str, partition: str, account: str) -> Any | None:
    try:
        return iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception:
        return None


def _trust_refusal(role: Any | None, request: Request) -> str:
    """Why AWS would refuse `request` under `role`'s trust policy, or "" when it allows it."""
    if role is None:
        return "the role does not exist"
    trust = iam_enforcement.policy_document(role.assume_role_policy_document)
    try:
        decision = evaluate(request, (), trust, trust_policy=True)
    except NotEvaluated as exc:
        return f"the trust policy cannot be evaluated: {exc}"
    return "" if decision is Decision.ALLOW else f"{decision.value} by the trust policy"


def issue(body: Mapping[str, Any]) -> dict[str, Any]:
    """The session's credentials for a valid, trusted request; `Refused` (400 or 403) otherwise."""
    service = str(body.get("service") or "")
    role_arn = str(body.get("roleArn") or "")
    session = str(body.get("sessionName") or "")
    match = _ROLE_ARN.fullmatch(role_arn)
    if not _SERVICE.fullmatch(service):
        raise Refused(
            400, f"service must be a service principal such as ecs-tasks.amazonaws.com, not {service!r}"
        )
    if match is None:
        raise Refused(400, f"roleArn must be a role's ARN, not {role_arn!r}")
    if not _SESSION_NAME.fullmatch(session):
        raise Refused(400, f"sessionName must match [\\w+=,.@-]{{2,64}}, not {session!r}")
    partition, account = match.group("partition"), match.group("account")
    role = _role(role_arn, partition, account)
    try:
        duration = int(body.get("durationSeconds") or DEFAULT_DURATION)
    except (TypeError, ValueError):
        raise Refused(400, "durationSeconds must be a whole number of seconds") from None
    maximum = int(getattr(role, "max_session_duration", None) or DEFAULT_DURATION)
    if not MIN_DURATION <= duration <= maximum:
        raise Refused(
            400,
            f"durationSeconds must be between {MIN_DURATION} and the role's maximum {maximum}, "
            f"not {duration}",
        )
    context = {
        key: str(body[field])
        for key, field in (("aws:SourceAccount", "sourceAccount"), ("aws:SourceArn", "sourceArn"))
        if body.get(field)
    }
    current = iam_enforcement.mode()
    if current is not iam_enforcement.Mode.OFF:
        request = Request(service, "sts:AssumeRole", role_arn, context, principal_type="Service")
        reason = _trust_refusal(role, request)
        if reason:
            message = f"{role_arn} does not trust {service} to assume it: {reason}"
            if current is iam_enforcement.Mode.ENFORCE:
                _log.warning("refused sts:AssumeRole of %s by %s: %s", role_arn, service, reason)
                raise Refused(403, message)
            _log.warning("would refuse (audit) sts:AssumeRole of %s by %s: %s", role_arn, service, reason)
    region = str(body.get("region") or "us-east-1")
    assumed = sts_backends[account][partition].assume_role(
        region_name=region,
        role_session_name=session,
        role_arn=role_arn,
        policy="",
        duration=duration,
        external_id="",
    )
    _log.info("issued a session of %s to %s (%s, %d s)", role_arn, service, session, duration)
    return {
        "AccessKeyId": assumed.access_key_id,
        "SecretAccessKey": assumed.secret_access_key,
        "SessionToken": assumed.session_token,
        "Expiration": assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RoleArn": role_arn,
        "AssumedRoleArn": assumed.arn,
    }


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed"}


def respond(environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI answer to a request for `PATH`."""
    if environ.get("REQUEST_METHOD") != "POST":
        status, answer = 405, {"error": f"{PATH} answers POST only"}
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if not isinstance(body, dict):
                raise Refused(400, "the body must be a JSON object")
            status, answer = 200, issue(body)
        except ValueError as exc:
            status, answer = 400, {"error": f"the body is not JSON: {exc}"}
        except Refused as exc:
            status, answer = exc.status, {"error": str(exc)}
    data = json.dumps(answer).encode()
    start_response(
        f"{status} {_REASONS[status]}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]
