"""No secret value appears in a template, a stack output, an SSM parameter or the CLI's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import REPO_ROOT, LocalPlatform

pytestmark = pytest.mark.integration


def secret_values(platform: LocalPlatform) -> set[str]:
    """Every sensitive string held by the deployed secrets (passwords, keys, auth strings)."""
    sm = platform.client("secretsmanager")
    values: set[str] = set()
    for page in sm.get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            body = sm.get_secret_value(SecretId=entry["ARN"])["SecretString"]
            try:
                fields = json.loads(body)
            except json.JSONDecodeError:
                values.add(body)
                continue
            if isinstance(fields, dict):
                for key, value in fields.items():
                    if any(word in key.lower() for word in ("password", "secret", "token", "key")):
                        values.add(str(value))
    return {v for v in values if len(v) >= 12}


def test_secret_values_never_leak(platform: LocalPlatform) -> None:
    values = secret_values(platform)
    assert len(values) >= 6, "expected the generated database, app and external secrets"
    synth = platform.cli("synth", "--env", "local")
    haystacks = {
        "synth": synth.stdout + synth.stderr,
        "template": (REPO_ROOT / "cdk.out" / "local" / "blog-local.template.json").read_text(),
        "outputs": platform.cli("outputs", "--env", "local", "--json").stdout,
        "up": platform.up_output,
        "diff": platform.cli("diff", "--env", "local", "--json", check=False).stdout,
    }
    ssm = platform.client("ssm")
    haystacks["ssm"] = json.dumps(
        [
            p["Value"]
            for page in ssm.get_paginator("get_parameters_by_path").paginate(
                Path="/blog/local", Recursive=True
            )
            for p in page["Parameters"]
        ]
    )
    for where, text in haystacks.items():
        leaked = [v[:4] + "..." for v in values if v in text]
        assert not leaked, f"secret values appear in the {where}: {leaked}"


def test_emulator_log_holds_no_secret_values(platform: LocalPlatform) -> None:
    log = Path(platform.state_dir / "emulator" / "emulator.log").read_text(errors="replace")
    leaked = [v[:4] + "..." for v in secret_values(platform) if v in log]
    assert not leaked
