"""The no-op check `blog-infra local up` could make before synthesizing with the gates.

Synthesizes local without the gates and without CDK's built-in validation, and plans it against
the stack deployed on the emulator of `BLOG_INFRA_STATE_DIR`. The gates only read the template, so
when nothing changed the deployed template has passed them already; only a change needs the gated
synthesis. The benchmark times this to show what the no-op redeploy would cost with that shortcut.

    CDK_VALIDATION=false .venv/bin/python bench/noop_probe.py     # exit 0 no changes, 3 changes
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from blog_infra import paths, stacks
from blog_infra.planning import compute_plan
from blog_infra.synthesis import synth
from blog_infra.target import resolve
from infra.config import load_config


def main() -> int:
    paths.use_pinned_node()
    config = load_config("local")
    target = resolve(config)
    with tempfile.TemporaryDirectory() as out:
        assembly = synth(config, Path(out) / "assembly", gates=False)
        plan = compute_plan(
            stacks.deployed_template(target, assembly.stack_name), assembly.template(), region=config.region
        )
    return 0 if plan.empty else 3


if __name__ == "__main__":
    sys.exit(main())
