"""Key-policy statements every customer-managed KMS key of the platform carries."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms


def restrict_grants_to_aws_services(key: kms.Key) -> None:
    """Deny `kms:CreateGrant` unless an AWS service creates the grant for an AWS resource.

    Services that use the key (RDS, Secrets Manager, CloudWatch Logs) create their grants themselves;
    no principal of the account needs to hand out grants, which would outlive its own permissions.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyGrantsExceptForAwsServices",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={
                "BoolIfExists": {
                    "kms:GrantIsForAWSResource": "false",
                    "aws:PrincipalIsAWSService": "false",
                }
            },
        )
    )
