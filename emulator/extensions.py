"""Install everything this package adds to moto, in the order it must happen."""

from __future__ import annotations


def install() -> None:
    """Fix moto's CloudFormation engine and policy conditions, then register our resource models."""
    from emulator import cfn, engine, policy

    engine.install()
    policy.install()
    cfn.register()
