"""Install everything this package adds to moto, in the order it must happen."""

from __future__ import annotations


def install() -> None:
    """Fix moto's CloudFormation engine, policy conditions and S3 events to Lambda, then register our
    resource models."""
    from emulator import cfn, engine, policy, s3_events

    engine.install()
    policy.install()
    s3_events.install()
    cfn.register()
