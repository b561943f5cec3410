"""Building one module in a small stack of its own, with the app's feature flags."""

from __future__ import annotations

from aws_cdk import Environment, Stack

from infra.app import new_app


def new_stack() -> Stack:
    return Stack(new_app(), "Test", env=Environment(account="123456789012", region="us-east-1"))
