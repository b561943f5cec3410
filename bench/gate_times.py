"""Each gate of `blog-infra check` on one environment, timed apart in one process; prints JSON.

The plugins that can run inside the synthesis (cdk-nag's AwsSolutions pack, and the Control Tower
controls as the validator's plugin, as they ran before issue 23) are timed as what each adds to a
synthesis without plugins; the template-based gates (the Control Tower controls as `check` runs them
now, cfn-lint, checkov, the IAM reference) on the gated assembly, then together as `check` runs
them (cfn-guard and checkov in processes of their own beside the other two). A first synthesis,
untimed, starts the jsii kernel, so every synthesis timed finds it running. The template pass of
the controls is timed with its cache off (`BLOG_INFRA_NO_CACHE`).

    .venv/bin/python bench/gate_times.py prod
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

from aws_cdk import IPolicyValidationPlugin, Validations

from blog_infra.gates.checkov_gate import checkov_result
from blog_infra.gates.guard import cfn_guard_result
from blog_infra.gates.iam_policies import iam_result
from blog_infra.gates.lint import cfn_lint_result
from blog_infra.gates.runner import gate_results
from blog_infra.gates.synthesized import synth_with_gates, synthesize
from infra.app import new_app
from infra.config import EnvConfig, load_config
from infra.gates import apply_acknowledgements, plan_acknowledgements
from infra.stack import PlatformStack


def plugins(app: Any, which: str) -> None:
    from cdk_nag import AwsSolutionsChecks
    from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

    chosen: list[IPolicyValidationPlugin] = []
    if which in ("nag", "both"):
        chosen.append(cast(IPolicyValidationPlugin, AwsSolutionsChecks(app)))
    if which in ("guard", "both"):
        chosen.append(cast(IPolicyValidationPlugin, CfnGuardValidator(control_tower_rules_enabled=True)))
    if chosen:
        Validations.of(app).add_plugins(*chosen)


def synthesis(config: EnvConfig, out: Path, which: str) -> None:
    app = new_app(str(out))
    plugins(app, which)
    stack = PlatformStack(app, config=config)
    apply_acknowledgements(stack, config.name)
    synthesize(app, stack, plan_acknowledgements(stack, config.name), out, guard=False)


def timed(step: Callable[[], Any]) -> float:
    started = time.perf_counter()
    step()
    return round(time.perf_counter() - started, 3)


def main(env: str) -> dict[str, float]:
    config = load_config(env)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        synthesis(config, root / "warm", "none")
        result: dict[str, float] = {}
        for name, which in (
            ("no plugins", "none"),
            ("cdk-nag only", "nag"),
            ("Control Tower controls (plugin) only", "guard"),
            ("both plugins (as before issue 23)", "both"),
        ):
            result[f"synthesis, {name}"] = timed(partial(synthesis, config, root / which, which))
        gated = synth_with_gates(config, root / "gated", guard=False)
        acks = gated.acknowledgements
        os.environ["BLOG_INFRA_NO_CACHE"] = "1"
        result["Control Tower controls, template pass (cfn-guard)"] = timed(
            lambda: cfn_guard_result(gated.assembly.directory, gated.assembly.stack_name, acks)
        )
        result["synthesis with cdk-nag, then the template pass (as synth runs them)"] = timed(
            lambda: synth_with_gates(config, root / "gated-now")
        )
        result["cfn-lint"] = timed(
            lambda: cfn_lint_result(gated.assembly.template(), acks, region=config.region)
        )
        result["checkov"] = timed(lambda: checkov_result(gated.assembly.directory, acks))
        result["iam-reference"] = timed(lambda: iam_result(gated.assembly.directory, acks))
        result["template gates together, as check runs them"] = timed(
            lambda: gate_results(gated, region=config.region)
        )
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "prod")))
