"""Install everything this package adds to moto, in the order it must happen."""

from __future__ import annotations


def install() -> None:
    """Fix moto's CloudFormation engine, policy conditions, S3 events to Lambda, ECS's RunTask and
    EventBridge's TestEventPattern, put STS's trust-policy check and the other services'
    authorization in place (off until switched on), then register our resource models and let IAM's
    API find AWS managed policies."""
    from emulator import (
        cfn,
        ecs,
        engine,
        events,
        iam_authorization,
        iam_enforcement,
        lambda_account,
        policy,
        s3_events,
        zones,
    )
    from emulator.cfn import ec2 as cfn_ec2
    from emulator.cfn import iam as cfn_iam
    from emulator.cfn import logs as cfn_logs
    from emulator.cfn import secretsmanager as cfn_secretsmanager

    engine.install()
    ecs.install()
    cfn_ec2.install_vpc_attributes()
    cfn_logs.install_log_group_arn()
    events.install()
    lambda_account.install()
    zones.install()
    policy.install()
    s3_events.install()
    iam_enforcement.install()
    iam_authorization.install()
    cfn.register()
    cfn_secretsmanager.install_rotation()
    cfn_iam.install_aws_managed_policies()
