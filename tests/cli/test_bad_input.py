"""The bad-input table of docs/bad-input.md, row by row, through the real CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from blog_infra import options, paths
from blog_infra.cli import main
from blog_infra.exit_codes import ExitCode
from infra.config import ENVS_DIR, load_config

TABLE = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"
REAL_IDS = {
    "account_id": "210987654321",
    "circleci": {
        "org_id": "6a1f0c3e-2b4d-4e8f-9a7b-1c2d3e4f5a6b",
        "project_id": "0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e",
    },
}


@dataclass(frozen=True)
class Row:
    number: str
    what: str
    env: str
    change: str
    args: list[str]
    exit_code: int
    message: str


def rows() -> list[Row]:
    found = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 7 or not cells[0].isdigit():
            continue
        number, what, env, change, command, exit_code, message = cells
        found.append(
            Row(number, what, env, change.strip("`"), command.strip("`").split(), int(exit_code), message)
        )
    return found


def toml_text(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for the configuration files: scalars and nested tables."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    for key, value in scalars.items():
        rendered = (
            repr(value).lower()
            if isinstance(value, bool)
            else (f'"{value}"' if isinstance(value, str) else repr(value))
        )
        lines.append(f"{key} = {rendered}")
    text = "\n".join(lines) + "\n" if lines else ""
    for key, value in data.items():
        if isinstance(value, dict):
            text += toml_text(value, f"{prefix}.{key}" if prefix else key)
    return text


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in change.items():
        result[key] = merge(result.get(key, {}), value) if isinstance(value, dict) else value
    return result


def apply_change(path: Path, change: str) -> None:
    if not change:
        return
    text = path.read_text(encoding="utf-8")
    parts = [part.strip() for part in change.split(",")]
    if parts[0].startswith("replace "):
        old, new = (side.strip() for side in parts[0].removeprefix("replace ").split("=>"))
        assert old in text, f"{old} not in {path}"
        path.write_text(text.replace(old, new), encoding="utf-8")
        return
    if parts[0] == "real-ids":
        path.write_text(toml_text(merge(tomllib.loads(text), REAL_IDS)), encoding="utf-8")
        return
    try:
        override = tomllib.loads(change)
    except tomllib.TOMLDecodeError:
        path.write_text(text + "\n" + change + "\n", encoding="utf-8")
        return
    path.write_text(toml_text(merge(tomllib.loads(text), override)), encoding="utf-8")


@pytest.fixture
def envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of infra/envs that the CLI reads instead, and a state directory with no emulator."""
    copy = tmp_path / "envs"
    shutil.copytree(ENVS_DIR, copy)
    monkeypatch.setattr(options, "load_config", partial(load_config, envs_dir=copy))
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(tmp_path / "state"))
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return copy


def test_the_table_has_at_least_twenty_distinct_bad_inputs() -> None:
    table = rows()
    assert len(table) >= 20
    assert len({row.what for row in table}) == len(table)


@pytest.mark.parametrize("row", rows(), ids=lambda row: f"{row.number}-{row.what}")
def test_bad_input_is_refused_in_one_line(
    row: Row, envs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the row's change to the environment's configuration
    apply_change(envs / row.env / "config.toml", row.change)
    # WHEN the row's command runs (with credentials of another account where the row says so)
    if "credentials" in row.change:
        from moto import mock_aws

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            code = main(row.args)
    else:
        code = main(row.args)
    # THEN it exits with the row's code and one line that says what is wrong, and nothing ran
    err = capsys.readouterr().err.strip()
    assert code == row.exit_code, err
    assert row.message in re.sub(r"\s+", " ", err)
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "state" / "emulator" / "emulator.json").exists()


BLOG_INFRA = Path(sys.executable).parent / "blog-infra"


@pytest.fixture
def scratch_env() -> Iterator[tuple[str, Path, Path]]:
    """A throwaway environment beside the shipped ones (the CLI reads only infra/envs), and its
    assembly directory holding a previous synthesis: (name, config file, assembly directory)."""
    name = f"zbad{os.getpid() % 100000}"
    folder = ENVS_DIR / name
    assembly = paths.cdk_out(name)
    folder.mkdir()
    assembly.mkdir(parents=True)
    (assembly / "manifest.json").write_text('{"previous": true}', encoding="utf-8")
    try:
        yield name, folder / "config.toml", assembly
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(assembly, ignore_errors=True)


LOCAL = (ENVS_DIR / "local" / "config.toml").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            LOCAL + "\n[backstage.scaling]\ncpu = 256\nmemory_mib = 4096\n",
            "backstage.scaling: memory_mib 4096 does not fit cpu 256",
        ),
        (
            LOCAL.replace("[aurora]", '[network]\ncidr = "10.0.0.0/22"\n\n[aurora]'),
            "network: cidr 10.0.0.0/22",
        ),
        (LOCAL.encode("utf-8").replace(b"rocketclub.test", b"rocketclub.t\xe9st"), "is not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8 text"),
        ("target = emulator\n", "not valid TOML"),
        (None, "is a directory, not a file"),
    ],
    ids=["fargate-size", "cidr-too-small", "latin-1", "binary", "not-toml", "directory"],
)
def test_synth_with_a_bad_file_is_one_line_and_touches_nothing(
    scratch_env: tuple[str, Path, Path], content: str | bytes | None, expected: str
) -> None:
    # GIVEN an environment whose file is bad, and a previous assembly of it
    name, config_file, assembly = scratch_env
    if content is None:
        config_file.mkdir()
    else:
        config_file.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    before = {p.name: p.read_bytes() for p in assembly.iterdir()}
    # WHEN the real command runs in its own process
    result = subprocess.run(
        [str(BLOG_INFRA), "synth", "--env", name], capture_output=True, text=True, check=False, timeout=300
    )
    # THEN it exits 2 with one line on stderr naming the file, no traceback, the assembly untouched
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"error: infra/envs/{name}/config.toml: " in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert {p.name: p.read_bytes() for p in assembly.iterdir()} == before
    assert sorted(p.name for p in assembly.parent.iterdir() if p.name.startswith(f".{name}")) == []
