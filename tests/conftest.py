"""Shared fixtures: the configurations and the whole app, synthesized once per test session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


@pytest.fixture(scope="session")
def prod_config() -> Any:
    from infra.config import load_config

    return load_config("prod")


@pytest.fixture(scope="session")
def local_config() -> Any:
    from infra.config import load_config

    return load_config("local")


@pytest.fixture(scope="session")
def synthesized(prod_config: Any, local_config: Any) -> dict[str, Any]:
    """Both environments' root stacks as `assertions.Template`, keyed by environment name."""
    from aws_cdk.assertions import Template

    from infra.app import build_app

    result = {}
    for config in (prod_config, local_config):
        _, stack = build_app(config)
        result[config.name] = Template.from_stack(stack)
    return result


@pytest.fixture(scope="session")
def lean_prod_template(prod_config: Any) -> dict[str, Any]:
    """prod's root stack under the lean profile, as a template dictionary."""
    from blog_infra.cost import synthesize_template
    from infra.config import load_config

    return synthesize_template(load_config(prod_config.name, profile="lean"))


@pytest.fixture(scope="session")
def prod_template(synthesized: dict[str, Any]) -> Any:
    return synthesized["prod"]


@pytest.fixture(scope="session")
def local_template(synthesized: dict[str, Any]) -> Any:
    return synthesized["local"]
