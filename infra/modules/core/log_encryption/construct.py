"""The customer-managed KMS key that encrypts the platform's CloudWatch log groups."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.modules.keys import restrict_grants_to_aws_services
from infra.modules.stateful import pin_logical_id

PENDING_WINDOW = Duration.days(30)
LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*")
"""What CloudWatch Logs may do with the key. AWS's example policy (CloudWatch Logs User Guide: Encrypt
log data using AWS KMS) also lists `kms:Describe*`, but under the `kms:EncryptionContext:aws:logs:arn`
condition it grants nothing: no Describe action carries an encryption context (IAM Service
Authorization Reference, AWS KMS), so the condition is false for them."""


@dataclass(frozen=True, kw_only=True)
class LogEncryptionProps:
    """Inputs of the log-encryption module."""

    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    """What happens to the key when it leaves the stack; retained logs stay readable only with it."""
    pending_window: Duration = PENDING_WINDOW
    """Waiting period before a scheduled deletion of the key takes effect (7 to 30 days)."""


class LogEncryption(Construct):
    """A rotated KMS key that CloudWatch Logs may use for the log groups of this account and region,
    and nothing else."""

    def __init__(self, scope: Construct, id: str, *, props: LogEncryptionProps | None = None) -> None:
        super().__init__(scope, id)
        props = props or LogEncryptionProps()
        days = props.pending_window.to_seconds() / 86400
        if not (days.is_integer() and 7 <= days <= 30):
            raise ValueError("LogEncryption pending_window must be a whole number of days from 7 to 30")
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the blog platform's CloudWatch log groups.",
            enable_key_rotation=True,
            removal_policy=props.removal_policy,
            pending_window=props.pending_window,
        )
        pin_logical_id(self.key, "LogsKey")
        restrict_grants_to_aws_services(self.key)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
