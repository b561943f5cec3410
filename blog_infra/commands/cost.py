"""`blog-infra cost`: the monthly AWS cost of an environment, per component, from its synthesized template."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from blog_infra import paths, render
from blog_infra.cost import (
    Estimate,
    PriceError,
    PriceTable,
    compare,
    estimate,
    load_prices,
    synthesize_template,
)
from blog_infra.errors import BadInput, CliError
from blog_infra.options import env_option, json_option
from infra.config import ConfigError, EnvConfig, available_profiles, load_config

BOTH = "both"
CONFIGURED = "configured"
PROFILE_ORDER = ("standard", "lean")

_SYNTH_AT_REF = r"""
import inspect, json, sys
env, out = sys.argv[1], sys.argv[2]
profiles = json.loads(sys.argv[3])
from infra.config import load_config
from infra.app import build_app
supports = "profile" in inspect.signature(load_config).parameters
result = {"profiles_supported": supports, "templates": {}}
for profile in profiles:
    try:
        config = load_config(env, profile=profile) if supports and profile else load_config(env)
    except Exception as exc:
        result["templates"][str(profile)] = {"error": str(exc)}
        continue
    app, stack = build_app(config, outdir=f"{out}/assembly-{profile}")
    result["templates"][str(profile)] = {"template": app.synth().get_stack_by_name(stack.stack_name).template}
with open(f"{out}/templates.json", "w", encoding="utf-8") as handle:
    json.dump(result, handle)
"""


@dataclass(frozen=True)
class Priced:
    """One profile's estimate."""

    key: str
    """`standard`, `lean`, ... or `configured` (the environment's file as it stands)."""
    label: str
    configured: bool
    """The environment's file selects this profile."""
    estimate: Estimate


def _profile_keys(choice: str) -> list[str]:
    if choice == BOTH:
        known = available_profiles()
        return [p for p in PROFILE_ORDER if p in known] + [p for p in known if p not in PROFILE_ORDER]
    return [choice]


def _config(env: str, key: str) -> EnvConfig:
    try:
        return load_config(env, profile=None if key == CONFIGURED else key)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


def _estimate(template: dict[str, Any], prices: PriceTable) -> Estimate:
    try:
        return estimate(template, prices)
    except PriceError as exc:
        raise CliError(f"cannot price the template: {exc} (add it to blog_infra/data/prices.toml)") from None


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=paths.REPO_ROOT, capture_output=True, check=False)


def templates_at(ref: str, env: str, keys: list[str]) -> tuple[str, dict[str, dict[str, Any] | None], bool]:
    """The root stack's templates of `env` as commit `ref` synthesizes them, one per profile key.

    The commit's tree is unpacked into a temporary directory (`git archive`: nothing is checked out
    here, no worktree is registered) and synthesized there by this repository's Python and Node.js.
    A profile the commit cannot apply (it predates profiles) is synthesized as its file stands; an
    environment the commit lacks gives None.
    """
    resolved = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        raise BadInput(f"--compare {ref}: not a commit in this repository")
    commit = resolved.stdout.decode().strip()
    archive = _git("archive", "--format=tar", commit)
    if archive.returncode != 0:
        raise CliError(f"git archive {commit[:12]} failed: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="blog-infra-cost-") as tmp:
        source = Path(tmp) / "source"
        source.mkdir()
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(source, filter="data")
        script = source / "_blog_infra_cost_synth.py"
        script.write_text(_SYNTH_AT_REF, encoding="utf-8")
        environment = {
            **os.environ,
            "PYTHONPATH": str(source),
            "PATH": f"{paths.NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        }
        profiles = [None if key == CONFIGURED else key for key in keys]
        run = subprocess.run(
            [sys.executable, str(script), env, tmp, json.dumps(profiles)],
            cwd=source,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise CliError(f"synthesis of {env} at {commit[:12]} failed: {last}")
        result = json.loads((Path(tmp) / "templates.json").read_text(encoding="utf-8"))
    templates: dict[str, dict[str, Any] | None] = {}
    for key, profile in zip(keys, profiles, strict=True):
        entry = result["templates"].get(str(profile), {})
        templates[key] = entry.get("template")
    return commit, templates, bool(result["profiles_supported"])


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _change(value: float) -> str:
    if abs(value) < 0.005:
        return "0.00"
    return f"{'+' if value > 0 else '-'}${abs(value):,.2f}"


def _side_by_side(stack_name: str, priced: list[Priced]) -> Table:
    table = Table(title=f"Monthly cost of {stack_name} (USD, us-east-1 on-demand)", title_justify="left")
    table.add_column("Component", style="bold")
    single = len(priced) == 1
    if single:
        table.add_column("Quantity", style="dim")
    for entry in priced:
        table.add_column(
            entry.label + (" *" if entry.configured and entry.key != CONFIGURED else ""), justify="right"
        )
    if len(priced) == 2:
        table.add_column(f"{priced[1].key} - {priced[0].key}", justify="right")
    names = list(dict.fromkeys(name for entry in priced for name in entry.estimate.by_component()))
    for name in names:
        lines = [entry.estimate.by_component().get(name) for entry in priced]
        amounts = [line.monthly_usd if line else 0.0 for line in lines]
        row = [name]
        if single:
            row.append(lines[0].quantity if lines[0] else "")
        row += [_money(amount) for amount in amounts]
        if len(priced) == 2:
            row.append(_change(amounts[1] - amounts[0]))
        table.add_row(*row)
    totals = [entry.estimate.total for entry in priced]
    total_row = ["Total", *([""] if single else []), *(_money(t) for t in totals)]
    if len(priced) == 2:
        total_row.append(_change(totals[1] - totals[0]))
    table.add_row(*total_row, style="bold", end_section=True)
    return table


def _comparison_table(stack_name: str, label: str, ref: str, before: Estimate, after: Estimate) -> Table:
    result = compare(before, after)
    table = Table(
        title=f"Cost change of {stack_name} ({label}) against {ref}: {_change(result.change)} a month",
        title_justify="left",
    )
    table.add_column("Component", style="bold")
    table.add_column(ref, justify="right")
    table.add_column("this tree", justify="right")
    table.add_column("change", justify="right")
    for delta in result.deltas:
        style = None if abs(delta.change) < 0.005 else ("red" if delta.change > 0 else "green")
        table.add_row(
            delta.component, _money(delta.before), _money(delta.after), _change(delta.change), style=style
        )
    table.add_row("Total", _money(before.total), _money(after.total), _change(result.change), style="bold")
    return table


def _assumptions(prices: PriceTable, used: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "value": prices.assumptions[key].value,
            "unit": prices.assumptions[key].unit,
            "description": prices.assumptions[key].description,
        }
        for key in used
    ]


@click.command("cost")
@env_option
@click.option(
    "--profile",
    "profile",
    type=click.Choice([BOTH, CONFIGURED, *available_profiles()]),
    default=BOTH,
    show_default=True,
    help="Profile(s) to price: both (standard and lean side by side), one of them, or configured "
    "(the environment's file as it stands).",
)
@click.option(
    "--compare",
    "compare_ref",
    metavar="REF",
    help="Also synthesize commit REF (a branch, tag or sha) and show the change per component.",
)
@json_option
def cost_command(env: str, profile: str, compare_ref: str | None, as_json: bool) -> None:
    """Estimate ENV's monthly AWS cost per component from its synthesized template.

    Counts what the template holds (NAT gateways, Aurora instances and their minimum ACU, task sizes
    and counts, Spot and Graviton, load balancers, keys, secrets, alarms ...) and prices it from
    blog_infra/data/prices.toml, whose usage assumptions are printed. --compare REF shows what a
    branch changes against another commit, for a pull request.

    Example: blog-infra cost --env prod --compare origin/main
    """
    paths.use_pinned_node()
    prices = load_prices()
    keys = _profile_keys(profile)
    configured_profile = _config(env, CONFIGURED).profile
    configs = {key: _config(env, key) for key in keys}
    templates = {key: synthesize_template(config) for key, config in configs.items()}
    priced = [
        Priced(
            key=key,
            label=key if key != CONFIGURED else f"{configured_profile or 'no profile'} (configured)",
            configured=key in (configured_profile, CONFIGURED),
            estimate=_estimate(template, prices),
        )
        for key, template in templates.items()
    ]
    used = list(dict.fromkeys(a for entry in priced for a in entry.estimate.assumptions_used))
    stack_name = next(iter(configs.values())).stack_name

    comparison: dict[str, Any] | None = None
    before: dict[str, Estimate | None] = {}
    if compare_ref:
        commit, old_templates, supported = templates_at(compare_ref, env, keys)
        before = {key: _estimate(t, prices) if t is not None else None for key, t in old_templates.items()}
        comparison = {"ref": compare_ref, "commit": commit, "profiles_applied": supported, "profiles": {}}
        for entry in priced:
            old = before[entry.key] or _estimate({}, prices)
            result = compare(old, entry.estimate)
            comparison["profiles"][entry.key] = {
                "before_usd": old.total,
                "after_usd": entry.estimate.total,
                "change_usd": result.change,
                "environment_at_ref": before[entry.key] is not None,
                "components": [
                    {
                        "component": d.component,
                        "before_usd": d.before,
                        "after_usd": d.after,
                        "change_usd": d.change,
                    }
                    for d in result.deltas
                ],
            }

    if as_json:
        payload: dict[str, Any] = {
            "env": env,
            "stack": stack_name,
            "currency": prices.currency,
            "region": prices.region,
            "configured_profile": configured_profile,
            "profiles": {
                entry.key: {**entry.estimate.to_json(), "configured": entry.configured} for entry in priced
            },
            "assumptions": _assumptions(prices, used),
            "prices": {"recorded_on": prices.recorded_on, "status": prices.status},
        }
        if comparison is not None:
            payload["compare"] = comparison
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return

    console = render.console
    console.print(_side_by_side(stack_name, priced))
    if any(entry.configured and entry.key != CONFIGURED for entry in priced):
        console.print(f"* the profile infra/envs/{env}/config.toml selects")
    if comparison is not None:
        ref_label = f"{compare_ref} ({comparison['commit'][:12]})"
        for entry in priced:
            previous = before[entry.key]
            if previous is None:
                console.print(f"{env} does not exist at {ref_label}: everything is new.")
            console.print(
                _comparison_table(
                    stack_name, entry.label, ref_label, previous or _estimate({}, prices), entry.estimate
                )
            )
        if not comparison["profiles_applied"] and any(k != CONFIGURED for k in keys):
            console.print(f"{ref_label} predates profiles: it is priced as its {env} file stands.")
    console.print("Assumptions (blog_infra/data/prices.toml):")
    for item in _assumptions(prices, used):
        console.print(f"  {item['key']} = {item['value']:g} {item['unit']}: {item['description']}")
    console.print(
        f"Prices: {prices.region} on-demand {prices.currency}, recorded on {prices.recorded_on} "
        f"({prices.status}); see docs/cost.md."
    )
