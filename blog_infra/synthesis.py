"""Synthesis of one environment into its own cloud assembly under `cdk.out/<env>`."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blog_infra import paths
from blog_infra.errors import BadInput
from infra.config import EnvConfig


@dataclass(frozen=True)
class Assembly:
    directory: Path
    stack_name: str

    @property
    def template_path(self) -> Path:
        return self.directory / f"{self.stack_name}.template.json"

    def template(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.template_path.read_text(encoding="utf-8"))
        return result


def synth(
    config: EnvConfig, outdir: Path | None = None, *, gates: bool = True, validate: bool = True
) -> Assembly:
    """Synthesize `config`'s root stack in this process (the CDK CLI then deploys the assembly).

    With `gates` (always, for what is deployed) cdk-nag and the Control Tower controls run on the
    templates, and any finding that `infra/acknowledgements.toml` does not acknowledge stops here.
    Without them, `validate=False` also skips CDK's own template rules: the fastest synthesis, for
    planning only (the template is the same).
    """
    directory = outdir or paths.cdk_out(config.name)
    if gates:
        from blog_infra.gates.synthesized import refuse_failing, synth_with_gates

        return refuse_failing(synth_with_gates(config, directory)).assembly

    from infra.app import build_app
    from infra.gates import AcknowledgementError

    if directory.exists():
        shutil.rmtree(directory)
    try:
        app, stack = build_app(config, outdir=str(directory), validate=validate)
    except AcknowledgementError as exc:
        raise BadInput(str(exc)) from None
    app.synth()
    return Assembly(directory=directory, stack_name=stack.stack_name)
