"""`blog-infra cost`: both profiles side by side, the assumptions, JSON for scripts, --compare."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from blog_infra.commands import cost as command
from blog_infra.errors import BadInput
from tests.cost.conftest import resource, service, task_definition, template


def fake_template(config: Any) -> dict[str, Any]:
    """One NAT gateway, and a portal task whose size follows the configuration."""
    scaling = config.backstage.scaling
    return template(
        Nat=resource("AWS::EC2::NatGateway"),
        PortalTask=task_definition(scaling.cpu, scaling.memory_mib),
        Portal=service("PortalTask", DesiredCount=1),
    )


@pytest.fixture
def fast_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "synthesize_template", fake_template)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(command.cost_command, list(args), catch_exceptions=True)


def test_both_profiles_side_by_side_with_assumptions_and_price_dates(fast_synth: None) -> None:
    result = invoke("--env", "prod")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Monthly cost of blog-prod" in text
    header = next(row for row in text.splitlines() if "Component" in row)
    assert header.index("standard") < header.index("lean")
    assert "NAT gateways" in text and "Fargate: Portal" in text and "Total" in text
    assert "hours_per_month = 730 hours" in text
    assert "recorded on 2026-11-29" in text


def test_json_has_one_estimate_per_profile_and_the_assumptions(fast_synth: None) -> None:
    result = invoke("--env", "prod", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["env"] == "prod" and payload["currency"] == "USD"
    assert set(payload["profiles"]) == {"standard", "lean"}
    lean = payload["profiles"]["lean"]
    nat = next(c for c in lean["components"] if c["component"] == "NAT gateways")
    assert nat["monthly_usd"] == 33.75 and nat["resources"] == ["Nat"]
    assert lean["total_usd"] == round(sum(c["monthly_usd"] for c in lean["components"]), 2)
    # the lean profile's smaller portal task shows in the estimate
    assert lean["total_usd"] < payload["profiles"]["standard"]["total_usd"]
    assert {a["key"] for a in payload["assumptions"]} >= {"hours_per_month", "nat_data_gb"}
    assert payload["prices"]["recorded_on"] == "2026-11-29"


def test_one_profile_shows_the_quantities(fast_synth: None) -> None:
    result = invoke("--env", "prod", "--profile", "lean")
    assert result.exit_code == 0, result.output
    assert "Quantity" in result.output and "1 gateway x 730 h" in result.output


def test_an_unknown_profile_or_commit_is_bad_input(fast_synth: None) -> None:
    assert invoke("--env", "prod", "--profile", "tiny").exit_code == 2
    result = invoke("--env", "local", "--compare", "no-such-ref-anywhere")
    assert isinstance(result.exception, BadInput)
    assert "not a commit" in str(result.exception)


@pytest.mark.slow
def test_compare_synthesizes_the_other_commit_for_real(fast_synth: None) -> None:
    # GIVEN this tree (one NAT gateway and a portal task) WHEN compared with HEAD's real synthesis
    result = invoke("--env", "local", "--profile", "configured", "--compare", "HEAD", "--json")
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)["compare"]
    assert len(compared["commit"]) == 40
    change = compared["profiles"]["configured"]
    components = {c["component"]: c for c in change["components"]}
    # THEN HEAD's full platform is priced, and each component's change is after - before
    assert change["environment_at_ref"] is True
    assert components["Aurora Serverless v2"]["before_usd"] > 0
    assert components["Aurora Serverless v2"]["after_usd"] == 0
    assert components["NAT gateways"]["change_usd"] == 0
    assert change["change_usd"] == round(change["after_usd"] - change["before_usd"], 2)
