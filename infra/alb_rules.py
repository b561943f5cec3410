"""How an Application Load Balancer listener picks the action for a request, evaluated on a synthesized
template (a fact about AWS, shared by the tests and, later, the emulator).

ELB docs, "Listener rules for your Application Load Balancer": rules are evaluated in priority order,
lowest value first, and the default rule last; a rule applies when all its conditions are met.
"Condition types for listener rules": a condition with several values is met when any value matches;
host-header and http-header values are compared case-insensitively and may hold the wildcards `*`
(zero or more characters) and `?` (exactly one); path-pattern values are case-sensitive. Conditions
that are not evaluated here (source-ip, query-string, regex matching) raise `UnsupportedCondition`,
so a rule that uses one cannot be passed as matching or not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

LISTENER_RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"


class UnsupportedCondition(Exception):
    """A condition this evaluator does not model, named in one line."""


@dataclass(frozen=True)
class Request:
    host: str
    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    rule: str
    """Logical id of the rule that applied, or `default`."""
    type: str
    """The first action's type: `forward`, `fixed-response`, `redirect`, `authenticate-*`."""
    target_groups: tuple[str, ...] = ()
    status: int | None = None
    body: str | None = None


def _wildcard(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _any_match(patterns: list[str], value: str | None, *, case_sensitive: bool) -> bool:
    if value is None:
        return False
    return any(_wildcard(p, case_sensitive=case_sensitive).match(value) for p in patterns)


def condition_met(condition: Mapping[str, Any], request: Request, value: Callable[[Any], str]) -> bool:
    """Whether one rule condition holds for `request`; `value` turns a template value into text."""
    kind = condition.get("Field")
    if kind == "host-header":
        config = condition.get("HostHeaderConfig", {})
        if "RegexValues" in config:
            raise UnsupportedCondition("host-header regex matching is not evaluated")
        values = [value(v) for v in config.get("Values", condition.get("Values", []))]
        return _any_match(values, request.host, case_sensitive=False)
    if kind == "http-header":
        config = condition["HttpHeaderConfig"]
        if "RegexValues" in config:
            raise UnsupportedCondition("http-header regex matching is not evaluated")
        name = str(config["HttpHeaderName"]).lower()
        sent = next((v for k, v in request.headers.items() if k.lower() == name), None)
        return _any_match([value(v) for v in config["Values"]], sent, case_sensitive=False)
    if kind == "path-pattern":
        config = condition.get("PathPatternConfig", {})
        values = [value(v) for v in config.get("Values", condition.get("Values", []))]
        return _any_match(values, request.path, case_sensitive=True)
    if kind == "http-request-method":
        values = [value(v) for v in condition["HttpRequestMethodConfig"]["Values"]]
        return request.method in values
    raise UnsupportedCondition(f"listener rule condition {kind!r} is not evaluated")


def _outcome(rule: str, actions: list[Mapping[str, Any]], value: Callable[[Any], str]) -> Outcome:
    action = min(actions, key=lambda a: int(a.get("Order", 0)))
    kind = str(action["Type"])
    if kind == "forward":
        groups: tuple[str, ...]
        if "TargetGroupArn" in action:
            groups = (value(action["TargetGroupArn"]),)
        else:
            groups = tuple(value(g["TargetGroupArn"]) for g in action["ForwardConfig"]["TargetGroups"])
        return Outcome(rule, kind, target_groups=groups)
    if kind == "fixed-response":
        config = action["FixedResponseConfig"]
        return Outcome(rule, kind, status=int(config["StatusCode"]), body=config.get("MessageBody"))
    return Outcome(rule, kind)


def listener_ids(template: Mapping[str, Any]) -> list[str]:
    return [lid for lid, r in template.get("Resources", {}).items() if r["Type"] == LISTENER]


def evaluate(
    template: Mapping[str, Any], listener: str, request: Request, value: Callable[[Any], str]
) -> Outcome:
    """The action the listener `listener` (a logical id) takes for `request`.

    `value` turns a template value (a string, or an intrinsic such as the `Ref` of a target group or a
    `Fn::Join` around a dynamic reference) into the text ALB would compare; target groups are reported
    as `value` of their ARN expression."""
    resources = template["Resources"]
    rules = sorted(
        (
            (int(r["Properties"]["Priority"]), lid, r["Properties"])
            for lid, r in resources.items()
            if r["Type"] == LISTENER_RULE and r["Properties"].get("ListenerArn") == {"Ref": listener}
        ),
        key=lambda item: item[0],
    )
    for _, logical_id, props in rules:
        if all(condition_met(c, request, value) for c in props["Conditions"]):
            return _outcome(logical_id, props["Actions"], value)
    return _outcome("default", resources[listener]["Properties"]["DefaultActions"], value)
