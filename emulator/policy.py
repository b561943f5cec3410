"""Evaluation of the ``Condition`` block of policies that moto enforces (S3 bucket policies), by
`aws_policy.evaluation`.

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

from typing import Any

from moto.iam import access_control

from aws_policy.evaluation import NotEvaluated, condition_holds

SECURE_CONTEXT = {"aws:SecureTransport": "true"}


def conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """AWS semantics, from `aws_policy.evaluation`: every key must match; a missing key fails the
    condition, except for negated operators and ``...IfExists``. An operator or value that evaluator
    does not evaluate counts as satisfied, as moto did before. Under `audit` and `enforce`,
    `emulator.iam_authorization` decides the object requests of a role session or an IAM user instead
    (and refuses a policy it cannot evaluate)."""
    for operator_name, block in conditions.items():
        for key, expected in dict(block).items():
            try:
                if not condition_holds(operator_name, str(key), expected, context):
                    return False
            except NotEvaluated:
                continue
            except ValueError:  # a number condition on a value that is not one
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
