"""Profiles: defaults an environment file selects and can still override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, CpuArchitecture, available_profiles, load_config

ENV = 'account_id = "210987654321"\ndomain = "rocketclub.online"\nbackstage = { image_tag = "1.2.3" }\n'
LEAN = """
[aurora]
min_capacity = 0
readers = 0

[prefect]
cpu_architecture = "arm64"

[prefect.server]
cpu = 512
memory_mib = 1024
spot = true
"""


def envs(tmp_path: Path, env_body: str, profiles: dict[str, str] | None = None) -> Path:
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "config.toml").write_text(env_body, encoding="utf-8")
    (tmp_path / "_profiles").mkdir()
    for name, body in (profiles if profiles is not None else {"lean": LEAN}).items():
        (tmp_path / "_profiles" / f"{name}.toml").write_text(body, encoding="utf-8")
    return tmp_path


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found |= leaves(inner, f"{prefix}{key}.")
        return found
    return {prefix.rstrip("."): value}


def test_the_profile_fills_what_the_file_omits(tmp_path: Path) -> None:
    # GIVEN an environment that selects the lean profile and sets nothing it sets
    config = load_config("staging", envs(tmp_path, 'profile = "lean"\n' + ENV))
    # THEN the profile's values replace the defaults, and the rest stays default
    assert config.profile == "lean"
    assert config.aurora.min_capacity == 0 and config.aurora.readers == 0
    assert config.prefect.cpu_architecture is CpuArchitecture.ARM64
    assert (config.prefect.server.cpu, config.prefect.server.memory_mib, config.prefect.server.spot) == (
        512,
        1024,
        True,
    )
    assert config.prefect.server.max_capacity == 2 and config.aurora.max_capacity == 4


def test_the_environment_file_overrides_the_profile_table_by_table(tmp_path: Path) -> None:
    body = (
        'profile = "lean"\n'
        + ENV
        + "[aurora]\nreaders = 1\n[prefect.server]\ncpu = 2048\nmemory_mib = 4096\n"
    )
    config = load_config("staging", envs(tmp_path, body))
    assert config.aurora.readers == 1 and config.aurora.min_capacity == 0
    assert (config.prefect.server.cpu, config.prefect.server.memory_mib) == (2048, 4096)
    assert config.prefect.server.spot is True


def test_a_profile_can_be_chosen_from_outside_the_file(tmp_path: Path) -> None:
    root = envs(tmp_path, ENV, {"lean": LEAN, "standard": "[aurora]\nreaders = 1\n"})
    assert load_config("staging", root).profile is None
    assert load_config("staging", root).aurora.readers == 0
    assert load_config("staging", root, profile="standard").aurora.readers == 1
    assert load_config("staging", root, profile="lean").aurora.min_capacity == 0


@pytest.mark.parametrize(
    ("env_body", "profiles", "expected"),
    [
        (
            'profile = "tiny"\n' + ENV,
            {"lean": LEAN},
            r"^staging/config.toml: profile: unknown profile 'tiny': expected one of lean$",
        ),
        (
            'profile = "lean"\n' + ENV,
            {"lean": 'domain = "elsewhere.online"\n'},
            r"^_profiles/lean.toml: domain: a profile cannot set it",
        ),
        (
            'profile = "lean"\n' + ENV,
            {"lean": "[prefect.server]\ncpu = 300\n"},
            r"^_profiles/lean.toml: prefect.server.cpu: must be a Fargate CPU size",
        ),
        (
            'profile = "lean"\n' + ENV + "[prefect.server]\ncpu = 300\n",
            {"lean": "[prefect.server]\ncpu = 512\n"},
            r"^staging/config.toml: prefect.server.cpu: must be a Fargate CPU size",
        ),
    ],
)
def test_profile_errors_name_the_file_that_holds_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_body: str, profiles: dict[str, str], expected: str
) -> None:
    root = envs(tmp_path, env_body, profiles)
    monkeypatch.setattr("infra.config._repo_root", lambda: root)
    with pytest.raises(ConfigError, match=expected):
        load_config("staging", root)


@pytest.mark.parametrize(
    ("prefect", "expected"),
    [
        ("embedded_services = true\n", "embedded_services needs server.max_capacity = 1"),
        (
            "embedded_worker = true\nworkers = 2\n[prefect.server]\nmax_capacity = 1\n",
            "embedded_worker needs workers = 1 and server.max_capacity = 1",
        ),
        (
            "embedded_worker = true\n[prefect.server]\nmax_capacity = 1\nmemory_mib = 2048\n",
            r"worker_task.memory_mib \(2048\) and what it leaves of server.memory_mib \(2048\) must each",
        ),
    ],
)
def test_embedding_needs_a_single_server_task(tmp_path: Path, prefect: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config("staging", envs(tmp_path, ENV + "[prefect]\n" + prefect))


def test_the_shipped_profiles_change_cost_settings_only() -> None:
    # GIVEN prod under each shipped profile
    assert {"lean", "standard"} <= set(available_profiles())
    standard = leaves(load_config("prod", profile="standard").model_dump(mode="json"))
    lean = leaves(load_config("prod", profile="lean").model_dump(mode="json"))
    changed = {key for key in standard if standard[key] != lean[key]} - {"profile"}
    # THEN lean changes sizes, capacity and topology, and no protection, retention, backup or identity
    cost_settings = (
        "network.nat_gateways",
        "aurora.min_capacity",
        "aurora.readers",
        "backstage.cpu_architecture",
        "backstage.scaling.",
        "prefect.cpu_architecture",
        "prefect.embedded_",
        "prefect.flow_run_spot",
        "prefect.redis_replicas",
        "prefect.server.",
        "prefect.worker_task.",
        "observability.dashboard",
    )
    assert changed, "lean changes nothing"
    assert all(key.startswith(cost_settings) for key in changed), sorted(changed)
    assert not {k for k in changed if "protection" in k or "retention" in k or "backup" in k}
