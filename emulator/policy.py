"""Evaluation of the ``Condition`` block of policies that moto enforces (S3 bucket policies).

moto evaluated only ``StringEquals`` and treated every other operator as satisfied, so CDK's
enforce-SSL statement (Deny ``s3:*`` when ``aws:SecureTransport`` is ``false``) denied every request,
including the CDK CLI's own asset uploads to the bootstrap bucket.

Choice: requests to the emulator count as secure transport (``aws:SecureTransport`` is ``true``).
The emulator only listens on the loopback interface, so its plain-HTTP traffic never leaves the
machine, which is the property the condition protects; evaluating the key as ``false`` would instead
make every bucket with enforce-SSL unusable locally, and serving TLS would force a certificate on
every client. The condition is still evaluated for real, so a policy that demands insecure transport
is denied as it would be on AWS.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable
from typing import Any

from moto.iam import access_control

SECURE_CONTEXT = {"aws:SecureTransport": "true"}
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "NumericLessThan": operator.lt,
    "NumericLessThanEquals": operator.le,
    "NumericGreaterThan": operator.gt,
    "NumericGreaterThanEquals": operator.ge,
}


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def _matches(operator_name: str, expected: list[str], actual: str) -> bool | None:
    """Whether actual satisfies one operator; None if the operator is not evaluated here."""
    if operator_name == "Bool":
        return actual.lower() in [e.lower() for e in expected]
    if operator_name == "StringEquals":
        return actual in expected
    if operator_name == "StringNotEquals":
        return actual not in expected
    if operator_name == "StringEqualsIgnoreCase":
        return actual.lower() in [e.lower() for e in expected]
    if operator_name == "StringNotEqualsIgnoreCase":
        return actual.lower() not in [e.lower() for e in expected]
    if operator_name == "StringLike":
        return any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if operator_name == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if operator_name in (
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
    ):
        try:
            number, limits = float(actual), [float(e) for e in expected]
        except ValueError:
            return False
        compare: Callable[[float, float], bool] = _NUMERIC[operator_name]
        return any(compare(number, limit) for limit in limits)
    return None


def conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """AWS semantics for the operators above: every key must match; a missing key fails the
    condition, except for negated operators and ``...IfExists``. Other operators are not evaluated
    and count as satisfied, as moto did before."""
    for raw_operator, block in conditions.items():
        name = raw_operator.removesuffix("IfExists")
        if_exists = raw_operator.endswith("IfExists")
        for key, expected in dict(block).items():
            actual = next((v for k, v in context.items() if k.lower() == str(key).lower()), None)
            if actual is None:
                if if_exists or "Not" in name or _matches(name, [], "") is None:
                    continue
                return False
            result = _matches(name, _values(expected), actual)
            if result is False:
                return False
    return True


def _check_conditions(self: Any, incoming_condition_values: dict[str, str] | None) -> bool:
    expected = self._statement.get("Condition")
    if not expected:
        return True
    context = dict(SECURE_CONTEXT)
    context.update(incoming_condition_values or {})
    return conditions_hold(expected, context)


def _is_action_permitted(
    self: Any,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, str] | None = None,
) -> Any:
    """moto's statement evaluation, except that a statement whose conditions do not hold does not
    apply (NEUTRAL); moto answered DENIED, turning every conditional Deny into an unconditional one."""
    result = access_control.PermissionResult
    if "NotAction" in self._statement:
        concerned = not self._check_element_matches("NotAction", action)
    else:
        concerned = self._check_element_matches("Action", action)
    if not concerned:
        return result.NEUTRAL
    if self.is_unknown_principal(self._statement.get("Principal")):
        return result.NEUTRAL
    if principal and not self._check_principal(principal):
        return result.DENIED
    if not self._check_conditions(incoming_condition_values):
        return result.NEUTRAL
    if not self._statement.get("Resource"):
        return result.PERMITTED
    if not self._check_element_matches("Resource", resource):
        return result.NEUTRAL
    return result.PERMITTED if self._statement["Effect"] == "Allow" else result.DENIED


def install() -> None:
    setattr(access_control.IAMPolicyStatement, "_check_conditions", _check_conditions)  # noqa: B010
    setattr(access_control.IAMPolicyStatement, "is_action_permitted", _is_action_permitted)  # noqa: B010
