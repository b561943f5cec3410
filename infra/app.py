"""The CDK app: one root stack for the environment named by the `env` context value.

`blog-infra synth` builds it in-process; `cdk synth -c env=<env>` runs this module.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.config import ConfigError, EnvConfig, load_config
from infra.failure import describe_failure
from infra.gates import AcknowledgementError, apply_acknowledgements, enable_gates
from infra.stack import PlatformStack

ENV_CONTEXT_KEY = "env"
FEATURE_FLAGS: dict[str, Any] = {
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/core:target-partitions": ["aws"],
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:validateAgainstDefaultRules": True,
}


def new_app(outdir: str | None = None, *, validate: bool = True) -> App:
    """An app with the project's feature flags; `validate=False` skips CDK's own template rules
    (for a synthesis that only plans and is never deployed)."""
    context = dict(FEATURE_FLAGS)
    if not validate:
        context["@aws-cdk/core:validateAgainstDefaultRules"] = False
    return App(outdir=outdir, analytics_reporting=False, context=context)


def build_app(
    config: EnvConfig, *, outdir: str | None = None, gates: bool = False, validate: bool = True
) -> tuple[App, PlatformStack]:
    """The app for one environment: one root stack, with the acknowledgements of
    `infra/acknowledgements.toml` applied. `gates` runs cdk-nag on synthesis, which then fails on
    any finding of it that is not acknowledged; the Control Tower controls run on the template
    afterwards (blog_infra/gates/guard.py)."""
    app = new_app(outdir, validate=validate)
    return app, compose(app, config, gates=gates)


def compose(app: App, config: EnvConfig, *, gates: bool, guard_plugin: bool = False) -> PlatformStack:
    if gates:
        enable_gates(app, guard_plugin=guard_plugin)
    stack = PlatformStack(app, config=config)
    apply_acknowledgements(stack, config.name)
    return stack


def main() -> int:
    app = new_app()
    env = str(app.node.try_get_context(ENV_CONTEXT_KEY) or "local")
    try:
        config = load_config(env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # The CDK CLI's own entry (cdk.json) knows nothing of blog_infra's template pass: the Control
        # Tower controls run here as the validator's plugin, as they always did.
        compose(app, config, gates=True, guard_plugin=True)
        app.synth()
    except AcknowledgementError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(
            f"error: synthesis of {config.stack_name} failed {describe_failure(exc, Path(app.outdir))}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
