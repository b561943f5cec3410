"""The sandbox's npm uses the machine's own registry and CA configuration, as the ordinary client does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from blog_infra.sandbox import node


def _npm_config(key: str, environment: dict[str, str] | None = None) -> str:
    """npm's value for `key`; without `environment`, as the machine's npm under the machine's node sees it."""
    npm_cli = shutil.which("npm", path=node.MACHINE_PATH)
    assert npm_cli is not None
    if environment is None:
        environment = {**os.environ, "PATH": node.MACHINE_PATH}
    result = subprocess.run(
        [npm_cli, "config", "get", key], capture_output=True, text=True, check=True, env=environment
    )
    return result.stdout.strip()


@pytest.fixture
def npm_cli() -> str:
    found = shutil.which("npm", path=node.MACHINE_PATH)
    if found is None:
        pytest.skip("no npm on this machine")
    return found


def test_npm_under_the_pinned_node_reads_the_machines_global_config(npm_cli: str) -> None:
    # GIVEN the machine's npm, under the machine's node, reads a global config (where a machine
    # keeps its cafile and registry)
    machine_globalconfig = _npm_config("globalconfig")
    if not Path(machine_globalconfig).is_file():
        pytest.skip("this machine's npm has no global config file")
    if not (node.NODE_PACKAGE_DIR / "bin" / "node").exists():
        pytest.skip("the pinned Node.js is not installed (make setup)")
    # WHEN npm runs under the pinned Node.js with the sandbox's environment
    environment = node.npm_environment(npm_cli, node.NODE_PACKAGE_DIR / "bin", node.NODE_PACKAGE_DIR)
    # THEN it sees the same global config, CA file and registry as the machine's own npm
    assert _npm_config("globalconfig", environment) == machine_globalconfig
    for key in ("cafile", "registry"):
        assert _npm_config(key, environment) == _npm_config(key)


def test_npm_environment_keeps_the_callers_variables_and_sets_the_pinned_headers(
    npm_cli: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a caller with a CA bundle for Node.js and an npm setting of its own
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("npm_config_registry", "https://registry.example.invalid/")
    # WHEN the sandbox builds npm's environment
    environment = node.npm_environment(npm_cli, tmp_path / "bin", tmp_path / "headers")
    # THEN both pass through, the pinned node comes first and native modules build against its headers
    assert environment["NODE_EXTRA_CA_CERTS"] == "/etc/ssl/certs/ca-certificates.crt"
    assert environment["npm_config_registry"] == "https://registry.example.invalid/"
    assert environment["PATH"].startswith(f"{tmp_path / 'bin'}:")
    assert environment["npm_config_nodedir"] == str(tmp_path / "headers")


def test_an_explicit_globalconfig_of_the_caller_wins(
    npm_cli: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("npm_config_globalconfig", str(tmp_path / "npmrc"))
    environment = node.npm_environment(npm_cli, tmp_path / "bin", tmp_path / "headers")
    assert environment["npm_config_globalconfig"] == str(tmp_path / "npmrc")
