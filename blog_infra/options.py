"""Options shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from blog_infra.errors import BadInput
from infra.config import ConfigError, EnvConfig, load_config

F = TypeVar("F", bound=Callable[..., Any])


def env_option(function: F) -> F:
    return click.option(
        "--env",
        "env",
        default="local",
        show_default=True,
        metavar="ENV",
        help="Environment: a folder under infra/envs (local, prod).",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(function)


def config_for(env: str) -> EnvConfig:
    try:
        return load_config(env)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
