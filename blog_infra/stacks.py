"""Reading deployed stacks through the CloudFormation API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from blog_infra.errors import Unavailable
from blog_infra.target import Target

BOOTSTRAP_STACK = "CDKToolkit"
_SETTLED = ("_COMPLETE",)


@dataclass(frozen=True)
class Output:
    key: str
    value: str
    description: str


def _describe(target: Target, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except botocore.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise Unavailable(f"could not read stack {stack_name} from {target.description}: {exc}") from None
    except botocore.exceptions.EndpointConnectionError:
        raise Unavailable(f"{target.description} does not answer: is it running?") from None
    live = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    return live[0] if live else None


def stack_status(target: Target, stack_name: str) -> str | None:
    stack = _describe(target, stack_name)
    return str(stack["StackStatus"]) if stack else None


def status_reason(target: Target, stack_name: str) -> str:
    stack = _describe(target, stack_name)
    return str((stack or {}).get("StackStatusReason") or "no reason given")


def deployed_template(target: Target, stack_name: str) -> dict[str, Any] | None:
    """The template of the deployed stack, or None when there is none to compare against."""
    status = stack_status(target, stack_name)
    if status is None or status in {"REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"}:
        return None
    body = target.client("cloudformation").get_template(StackName=stack_name, TemplateStage="Original")[
        "TemplateBody"
    ]
    result: dict[str, Any] = json.loads(body) if isinstance(body, str) else dict(body)
    return result


def outputs(target: Target, stack_name: str) -> list[Output]:
    stack = _describe(target, stack_name)
    if stack is None:
        raise Unavailable(f"stack {stack_name} is not deployed on {target.description}")
    return sorted(
        (
            Output(o["OutputKey"], o["OutputValue"], o.get("Description", ""))
            for o in stack.get("Outputs", [])
        ),
        key=lambda o: o.key,
    )


def is_bootstrapped(target: Target) -> bool:
    status = stack_status(target, BOOTSTRAP_STACK)
    return status is not None and status.endswith(_SETTLED) and "ROLLBACK" not in status
