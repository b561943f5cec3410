"""The CircleCI pipeline: valid for CircleCI, runs only what exists, reaches AWS only through OIDC.

The pipeline cannot run here, so these tests read `.circleci/config.yml` the way CircleCI does (reusable
commands expanded, branch filters applied) and run its shell steps and the comment script against stubs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from blog_infra.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO_ROOT / ".circleci" / "config.yml"
COMMENT_SCRIPT = REPO_ROOT / ".circleci" / "scripts" / "post-plan-comment.sh"
CI_DOC = REPO_ROOT / "docs" / "ci.md"
MARKER = "<!-- blog-infra-plan -->"
CIRCLECI_SHELL = ["/bin/bash", "-eo", "pipefail", "-c"]
"""How CircleCI runs a `run` step in a Docker executor."""


def load_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    return config


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load_config()


def expand_steps(config: dict[str, Any], steps: list[Any], params: dict[str, Any] | None = None) -> list[Any]:
    """Steps with this config's reusable commands inlined and their `<< parameters.x >>` filled in."""
    result: list[Any] = []
    for step in steps:
        name, args = (step, {}) if isinstance(step, str) else next(iter(step.items()))
        if name in config.get("commands", {}):
            command = config["commands"][name]
            defaults = {k: v.get("default") for k, v in command.get("parameters", {}).items()}
            result += expand_steps(config, command["steps"], {**defaults, **(args or {})})
            continue
        text = json.dumps(step)
        for key, value in (params or {}).items():
            text = re.sub(r"<<\s*parameters\." + re.escape(key) + r"\s*>>", str(value), text)
        result.append(json.loads(text))
    return result


def job_steps(config: dict[str, Any], job: str) -> list[Any]:
    return expand_steps(config, config["jobs"][job]["steps"])


def run_commands(steps: list[Any]) -> list[str]:
    commands = []
    for step in steps:
        if isinstance(step, dict) and "run" in step:
            run = step["run"]
            commands.append(run if isinstance(run, str) else run["command"])
    return commands


def all_run_commands(config: dict[str, Any]) -> list[str]:
    return [command for job in config["jobs"] for command in run_commands(job_steps(config, job))]


def workflow_jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each workflow job by its name in the workflow, with its invocation settings."""
    (workflow,) = (w for k, w in config["workflows"].items() if k != "version")
    result = {}
    for entry in workflow["jobs"]:
        job, settings = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        settings = settings or {}
        result[settings.get("name", job)] = {"job": job, **settings}
    return result


def _matches(branch: str, patterns: str | list[str]) -> bool:
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        if pattern.startswith("/") and pattern.endswith("/"):
            if re.fullmatch(pattern[1:-1], branch):
                return True
        elif pattern == branch:
            return True
    return False


def jobs_on_branch(config: dict[str, Any], branch: str) -> dict[str, dict[str, Any]]:
    """The workflow jobs that CircleCI runs for a push to `branch` (branch filters applied)."""
    result = {}
    for name, invocation in workflow_jobs(config).items():
        branches = (invocation.get("filters") or {}).get("branches", {})
        if "only" in branches and not _matches(branch, branches["only"]):
            continue
        if "ignore" in branches and _matches(branch, branches["ignore"]):
            continue
        result[name] = invocation
    return result


def required(config: dict[str, Any], name: str) -> set[str]:
    """Every workflow job that must finish before `name` starts, transitively."""
    jobs = workflow_jobs(config)
    direct = {r if isinstance(r, str) else next(iter(r)) for r in jobs[name].get("requires", [])}
    return direct.union(*(required(config, r) for r in direct)) if direct else set()


def make_targets() -> set[str]:
    """The Makefile's targets, from make's own database when make is installed."""
    if shutil.which("make"):
        database = subprocess.run(
            ["make", "--no-print-directory", "-pRrq", "-f", "Makefile", "__no_such_target__"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        targets, previous = set(), ""
        for line in database.splitlines():
            found = re.match(r"^([A-Za-z0-9][^:=\s#]*)\s*::?(?!=)", line)
            if found and previous != "# Not a target:":
                targets.add(found.group(1))
            previous = line
        return targets
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", makefile, flags=re.MULTILINE))


def pipeline_make_targets() -> list[str]:
    found = {m for c in all_run_commands(load_config()) for m in re.findall(r"\bmake\s+([a-z][\w-]*)", c)}
    return sorted(found)


def pipeline_cli_invocations() -> list[str]:
    found = set()
    for command in all_run_commands(load_config()):
        for words in re.findall(r"blog-infra((?:\s+[a-z][\w-]*)+)", command):
            found.add(" ".join(words.split()))
    return sorted(found)


def resolve_cli(words: list[str]) -> tuple[list[str], click.Command]:
    """The longest command path of `words` that `blog-infra` knows, and the command it ends on."""
    command: click.Command = cli
    path: list[str] = []
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return path, command


def stub_executable(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


# --- the file is a valid CircleCI 2.1 configuration -------------------------------------------------


def test_config_validates_against_circleci_published_schema() -> None:
    # GIVEN CircleCI's published schema as vendored by check-jsonschema
    # WHEN the pipeline is validated against it
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.circle-ci", str(CONFIG_PATH)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # THEN it is valid
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_config(tmp_path: Path, config: dict[str, Any]) -> None:
    # GIVEN the pipeline with a misspelt key in a branch filter
    broken = json.loads(json.dumps(config))
    (deploy,) = [j["deploy"] for j in broken["workflows"]["blog-infra"]["jobs"] if "deploy" in j]
    deploy["filters"]["branches"] = {"onli": "main"}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    # WHEN it is validated
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.circle-ci", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # THEN validation fails: the check above is a real one
    assert result.returncode != 0


def test_config_is_version_2_1_and_reuses_steps(config: dict[str, Any]) -> None:
    assert str(config["version"]) == "2.1"
    assert {"setup-toolchain", "assume-role"} <= set(config["commands"])


# --- what the pipeline runs exists -------------------------------------------------------------------


@pytest.mark.parametrize("target", pipeline_make_targets())
def test_every_make_target_the_pipeline_runs_exists(target: str) -> None:
    # GIVEN the Makefile's targets
    targets = make_targets()
    # THEN every `make <target>` in the pipeline is one of them
    assert target in targets, f"the pipeline runs 'make {target}', which the Makefile does not define"


def test_the_pipeline_runs_test_check_and_setup() -> None:
    assert {"setup", "test", "check"} <= set(pipeline_make_targets())


@pytest.mark.parametrize("invocation", pipeline_cli_invocations())
def test_every_blog_infra_command_the_pipeline_names_exists(invocation: str) -> None:
    # GIVEN a `blog-infra ...` invocation in the pipeline
    words = invocation.split()
    # WHEN it is resolved through the CLI's click group
    path, command = resolve_cli(words)
    # THEN it names a command of blog-infra
    assert path, f"'blog-infra {invocation}' is not a command of blog-infra"
    assert not isinstance(command, click.Group), f"'blog-infra {invocation}' names a group, not a command"


def test_the_pipeline_names_verify() -> None:
    assert "verify" in pipeline_cli_invocations()


@pytest.mark.parametrize("command", all_run_commands(load_config()))
def test_no_step_skips_a_command_that_is_missing(command: str) -> None:
    # A step that first asks whether a command exists would pass, silently, without running it
    for probe in (r"--help\s*>\s*/dev/null", r"\bcommand -v\b", r"\bwhich\b", r"\|\|\s*true\b"):
        assert not re.search(probe, command), f"a pipeline step skips what it cannot run: {command!r}"


def test_the_pipeline_plans_with_the_markdown_format_the_cli_offers(config: dict[str, Any]) -> None:
    _, diff = resolve_cli(["diff"])
    formats = next(p for p in diff.params if p.name == "output_format")
    assert isinstance(formats.type, click.Choice) and "markdown" in formats.type.choices
    assert any(
        "blog-infra diff --env prod --format markdown > reports/plan.md" in c
        for c in run_commands(job_steps(config, "plan"))
    )


# --- AWS only through OIDC ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "role_variable", "context"),
    [
        ("plan", "AWS_PLAN_ROLE_ARN", "blog-infra-plan"),
        ("deploy", "AWS_DEPLOY_ROLE_ARN", "blog-infra-deploy"),
        ("verify", "AWS_PLAN_ROLE_ARN", "blog-infra-plan"),
    ],
)
def test_aws_jobs_assume_their_role_with_the_oidc_token(
    config: dict[str, Any], job: str, role_variable: str, context: str
) -> None:
    # GIVEN a job that reaches AWS
    commands = run_commands(job_steps(config, job))
    assume = [i for i, c in enumerate(commands) if "aws sts assume-role-with-web-identity" in c]
    # THEN it assumes its own role once, with the job's OIDC token, before any blog-infra command
    assert len(assume) == 1
    command = commands[assume[0]]
    assert '--web-identity-token "$CIRCLE_OIDC_TOKEN_V2"' in command
    assert f'role_arn="${{{role_variable}:-}}"' in command
    assert '--role-arn "$role_arn"' in command
    first_cli = min(i for i, c in enumerate(commands) if "blog-infra " in c)
    assert assume[0] < first_cli
    # AND the variable comes from the job's context, which also makes CircleCI issue the token
    assert workflow_jobs(config)[job]["context"] == context


@pytest.mark.parametrize("job", ["plan", "deploy", "verify"])
def test_the_session_reaches_the_cli_through_a_private_profile(config: dict[str, Any], job: str) -> None:
    # GIVEN the assume-role step of an AWS job
    (command,) = [c for c in run_commands(job_steps(config, job)) if "assume-role-with-web-identity" in c]
    # THEN the session is written privately and read by the 'blog-ci' profile that later steps use
    assert command.index("umask 077") < command.index("aws sts assume-role-with-web-identity")
    assert "--output json > ~/.aws/blog-ci-session.json" in command
    assert "credential_process = cat $HOME/.aws/blog-ci-session.json" in command
    assert "echo 'export AWS_PROFILE=blog-ci' >> \"$BASH_ENV\"" in command


FAKE_AWS = """
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["sts", "assume-role-with-web-identity"]:
    options = dict(zip(args[2::2], args[3::2]))
    if options["--web-identity-token"] != os.environ["CIRCLE_OIDC_TOKEN_V2"]:
        sys.exit(254)
    print(json.dumps({"Version": 1, "AccessKeyId": "ASIAEXAMPLESESSION1", "SecretAccessKey": "s",
                      "SessionToken": "t", "Expiration": "2099-01-01T00:00:00+00:00"}))
elif args[:2] == ["sts", "get-caller-identity"]:
    print("arn:aws:sts::123456789012:assumed-role/blog-prod-ci-plan/circleci-plan-7")
"""


def test_the_assume_role_step_hands_the_session_to_boto3(tmp_path: Path, config: dict[str, Any]) -> None:
    # GIVEN the plan job's assume-role step, an `aws` CLI stub that checks the token, and a fresh HOME
    (step,) = [c for c in run_commands(job_steps(config, "plan")) if "assume-role-with-web-identity" in c]
    stub_executable(tmp_path / "bin" / "aws", FAKE_AWS)
    home, bash_env = tmp_path / "home", tmp_path / "bash_env"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "BASH_ENV": str(bash_env),
        "FAKE_AWS_LOG": str(tmp_path / "aws.log"),
        "CIRCLE_OIDC_TOKEN_V2": "oidc-token",
        "AWS_PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/blog-prod-ci-plan",
        "AWS_REGION": "us-east-1",
        "CIRCLE_JOB": "plan",
        "CIRCLE_BUILD_NUM": "7",
    }
    # WHEN it runs as CircleCI runs it
    result = subprocess.run([*CIRCLECI_SHELL, step], env=env, capture_output=True, text=True, timeout=60)
    # THEN it assumed the plan role with the token
    assert result.returncode == 0, result.stdout + result.stderr
    (assume, *_) = [json.loads(line) for line in (tmp_path / "aws.log").read_text().splitlines()]
    options = dict(zip(assume[2::2], assume[3::2], strict=True))
    assert options["--role-arn"] == env["AWS_PLAN_ROLE_ARN"]
    assert options["--role-session-name"] == "circleci-plan-7"
    # AND the session file is private, and the next steps' boto3 finds it through AWS_PROFILE
    assert stat.S_IMODE((home / ".aws" / "blog-ci-session.json").stat().st_mode) == 0o600
    assert bash_env.read_text() == "export AWS_PROFILE=blog-ci\n"
    probe = (
        "import boto3; s = boto3.Session(); c = s.get_credentials();"
        "print(c.method, c.get_frozen_credentials().access_key, s.region_name)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "AWS_PROFILE": "blog-ci", "AWS_REGION": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.stdout.split() == ["custom-process", "ASIAEXAMPLESESSION1", "us-east-1"], found.stderr


@pytest.mark.parametrize("missing", ["CIRCLE_OIDC_TOKEN_V2", "AWS_DEPLOY_ROLE_ARN"])
def test_the_assume_role_step_names_what_is_missing(
    tmp_path: Path, config: dict[str, Any], missing: str
) -> None:
    (step,) = [c for c in run_commands(job_steps(config, "deploy")) if "assume-role-with-web-identity" in c]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CIRCLE_"))},
        "HOME": str(tmp_path),
        "CIRCLE_OIDC_TOKEN_V2": "oidc-token",
        "AWS_DEPLOY_ROLE_ARN": "arn:aws:iam::123456789012:role/blog-prod-ci-deploy",
    }
    del env[missing]
    result = subprocess.run([*CIRCLECI_SHELL, step], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert missing in result.stderr


@pytest.mark.parametrize("path", [CONFIG_PATH, COMMENT_SCRIPT])
def test_no_aws_access_keys_anywhere(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for forbidden in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert forbidden.lower() not in text.lower(), f"{path.name} mentions {forbidden}"
    assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text)


def test_only_the_aws_jobs_use_contexts(config: dict[str, Any]) -> None:
    contexts = {name: inv.get("context") for name, inv in workflow_jobs(config).items()}
    assert contexts == {
        "test": None,
        "check": None,
        "plan": "blog-infra-plan",
        "hold": None,
        "deploy": "blog-infra-deploy",
        "verify": "blog-infra-plan",
    }


# --- what runs when ----------------------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["feature/edge", "renovate/aws-cdk-lib-2.x", "mainline"])
def test_a_pull_request_branch_tests_checks_and_plans_but_never_deploys(
    config: dict[str, Any], branch: str
) -> None:
    assert set(jobs_on_branch(config, branch)) == {"test", "check", "plan"}


def test_main_waits_for_an_approval_before_deploying(config: dict[str, Any]) -> None:
    # GIVEN a push to main
    jobs = jobs_on_branch(config, "main")
    # THEN the deploy runs only after the approval, which comes after test, check and plan
    assert set(jobs) == {"test", "check", "plan", "hold", "deploy", "verify"}
    assert jobs["hold"]["type"] == "approval"
    for job in ("hold", "deploy", "verify"):
        assert jobs[job]["filters"] == {"branches": {"only": "main"}}
    assert jobs["deploy"]["requires"] == ["hold"]
    assert {"test", "check", "plan"} <= required(config, "hold")
    assert {"hold", "test", "check", "plan"} <= required(config, "deploy")
    # AND verify follows the deploy
    assert jobs["verify"]["requires"] == ["deploy"]
    # AND two approved deploys (or a deploy and a verify) never run at once
    assert jobs["deploy"]["serial-group"] == "<< pipeline.project.slug >>/deploy-prod"
    assert jobs["verify"]["serial-group"] == jobs["deploy"]["serial-group"]


@pytest.mark.parametrize("branch", ["main", "feature/x"])
def test_every_required_job_runs_on_the_same_branch(config: dict[str, Any], branch: str) -> None:
    jobs = jobs_on_branch(config, branch)
    for name in jobs:
        assert required(config, name) <= set(jobs), f"{name} waits for a job that does not run on {branch}"


def test_deploy_deploys_and_verify_verifies_read_only(config: dict[str, Any]) -> None:
    # GIVEN the two jobs after the approval
    deploy = run_commands(job_steps(config, "deploy"))
    verify = run_commands(job_steps(config, "verify"))
    # THEN the deploy role only deploys; verify and the outputs use the read-only plan role
    assert any(".venv/bin/blog-infra deploy --env prod" in c for c in deploy)
    assert not any("blog-infra verify" in c or "blog-infra outputs" in c for c in deploy)
    assert any(".venv/bin/blog-infra verify --env prod" in c for c in verify)
    assert any(".venv/bin/blog-infra outputs --env prod --json > reports/outputs.json" in c for c in verify)
    assert {"store_artifacts": {"path": "reports", "when": "always"}} in job_steps(config, "verify")


def test_deploy_runs_preflight_first_and_keeps_its_report(config: dict[str, Any]) -> None:
    # GIVEN the deploy job
    commands = run_commands(job_steps(config, "deploy"))
    preflight = [i for i, c in enumerate(commands) if "blog-infra preflight" in c]
    deploy = [i for i, c in enumerate(commands) if "blog-infra deploy" in c]
    # THEN it reads the account with preflight, as JSON kept as an artifact, before it deploys
    assert len(preflight) == 1 and len(deploy) == 1 and preflight[0] < deploy[0]
    assert (
        ".venv/bin/blog-infra preflight --env prod --json | tee reports/preflight.json"
        in commands[preflight[0]]
    )
    assert {"store_artifacts": {"path": "reports", "when": "always"}} in job_steps(config, "deploy")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()


def test_deploy_refuses_a_commit_that_main_has_moved_past(tmp_path: Path, config: dict[str, Any]) -> None:
    # GIVEN a checkout of main at the commit the pipeline was started for
    origin, work = tmp_path / "origin", tmp_path / "work"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    git(tmp_path, "clone", "--quiet", str(origin), str(work))
    git(work, "commit", "--quiet", "--allow-empty", "-m", "first")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    planned = git(work, "rev-parse", "HEAD")
    (step,) = [c for c in run_commands(job_steps(config, "deploy")) if "git fetch" in c]
    env = {**os.environ, "CIRCLE_SHA1": planned}
    # WHEN main has not moved, THEN the deploy may go on
    ok = subprocess.run(
        [*CIRCLECI_SHELL, step], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    # WHEN another merge lands on main before the approval, THEN the old commit is not deployed
    git(work, "commit", "--quiet", "--allow-empty", "-m", "second")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    git(work, "reset", "--quiet", "--hard", planned)
    late = subprocess.run(
        [*CIRCLECI_SHELL, step], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert late.returncode == 1
    assert "approve the hold of the newest pipeline on main" in late.stderr
    commands = run_commands(job_steps(config, "deploy"))
    assert commands.index(step) < next(i for i, c in enumerate(commands) if "blog-infra deploy" in c)


# --- test and check jobs -----------------------------------------------------------------------------


def test_the_test_job_reports_junit_and_keeps_the_templates(config: dict[str, Any]) -> None:
    job = config["jobs"]["test"]
    steps = job_steps(config, "test")
    assert job["environment"]["JUNIT_DIR"] == "test-results/pytest"
    assert "make test" in run_commands(steps)
    # each pytest run of `make test` writes a report of its own there
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "test", "JUNIT_DIR=test-results/pytest"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    reports = re.findall(r"--junitxml=(\S+)", planned)
    assert sorted(reports) == ["test-results/pytest/conformance.xml", "test-results/pytest/tests.xml"]
    stored = [
        (k, v["path"], v.get("when"))
        for s in steps
        if isinstance(s, dict)
        for k, v in s.items()
        if k in ("store_test_results", "store_artifacts")
    ]
    assert ("store_test_results", "test-results", "always") in stored
    assert ("store_artifacts", "test-results", "always") in stored
    assert ("store_artifacts", "cdk.out", "always") in stored


def test_the_image_has_python_3_11_and_node(config: dict[str, Any]) -> None:
    for job in config["jobs"]:
        executor = config["executors"][config["jobs"][job]["executor"]]
        image = executor["docker"][0]["image"]
        assert re.fullmatch(r"cimg/python:3\.11(\.\d+)?-node", image), image


def test_the_toolchain_cache_is_keyed_on_every_lock_file(config: dict[str, Any]) -> None:
    steps = job_steps(config, "test")
    restore = next(s["restore_cache"] for s in steps if isinstance(s, dict) and "restore_cache" in s)
    save = next(s["save_cache"] for s in steps if isinstance(s, dict) and "save_cache" in s)
    assert restore["keys"] == [save["key"]]
    for lock in ("requirements.txt", "pyproject.toml", "package-lock.json"):
        assert f'{{{{ checksum "{lock}" }}}}' in save["key"]
    assert save["paths"] == [".venv", "node_modules"]
    setup = next(
        i for i, s in enumerate(steps) if s == {"run": {"name": "make setup", "command": "make setup"}}
    )
    restored = next(i for i, s in enumerate(steps) if isinstance(s, dict) and "restore_cache" in s)
    assert restored < setup


def test_the_check_job_keeps_its_reports(config: dict[str, Any]) -> None:
    steps = job_steps(config, "check")
    assert "make check" in run_commands(steps)
    assert {"store_artifacts": {"path": "reports", "when": "always"}} in steps


# --- the shell steps behave ---------------------------------------------------------------------------


@pytest.mark.parametrize(("diff_exit", "step_exit"), [(0, 0), (3, 0), (1, 1), (2, 2), (4, 4), (5, 5)])
def test_the_plan_step_fails_only_when_diff_fails(
    tmp_path: Path, config: dict[str, Any], diff_exit: int, step_exit: int
) -> None:
    # GIVEN a blog-infra whose diff writes a plan and exits with `diff_exit`
    stub_executable(
        tmp_path / ".venv/bin/blog-infra",
        f"import sys\nprint('{MARKER}')\nsys.exit({diff_exit})\n",
    )
    (step,) = [c for c in run_commands(job_steps(config, "plan")) if "blog-infra diff" in c]
    # WHEN the plan step runs as CircleCI runs it
    result = subprocess.run([*CIRCLECI_SHELL, step], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    # THEN only 0 (no changes) and 3 (changes) pass, and the plan is kept in reports/plan.md
    assert result.returncode == step_exit, result.stdout + result.stderr
    assert (tmp_path / "reports/plan.md").read_text(encoding="utf-8").startswith(MARKER)


@pytest.mark.parametrize(
    ("verify", "step_exit"),
    [("ok", 0), ("drift", 6), ("unreachable", 5), ("missing", 2)],
)
def test_the_verify_step_fails_on_drift_and_when_verify_is_missing(
    tmp_path: Path, config: dict[str, Any], verify: str, step_exit: int
) -> None:
    # GIVEN a blog-infra whose 'verify' finds nothing, finds drift, cannot reach prod, or does not exist
    log = tmp_path / "calls.log"
    exits = {"ok": 0, "drift": 6, "unreachable": 5}
    body = (
        "import sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1] != 'verify':\n    sys.exit(0)\n"
    )
    if verify == "missing":
        body += "print(\"Error: No such command 'verify'.\", file=sys.stderr)\nsys.exit(2)\n"
    else:
        body += f'print(\'{{"verdict": "{verify}"}}\')\nsys.exit({exits[verify]})\n'
    stub_executable(tmp_path / ".venv/bin/blog-infra", body)
    (step,) = [c for c in run_commands(job_steps(config, "verify")) if "blog-infra verify" in c]
    # WHEN the verify step runs as CircleCI runs it
    result = subprocess.run([*CIRCLECI_SHELL, step], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    # THEN it ran verify on prod, and fails unless prod conforms
    assert result.returncode == step_exit, result.stdout + result.stderr
    assert log.read_text(encoding="utf-8").splitlines() == ["verify --env prod --json"]
    if verify != "missing":
        assert json.loads((tmp_path / "reports/verify.json").read_text(encoding="utf-8")) == {
            "verdict": verify
        }


def test_the_check_step_fails_when_the_makefile_has_no_check(tmp_path: Path, config: dict[str, Any]) -> None:
    # GIVEN a checkout whose Makefile lost its 'check' target
    (tmp_path / "Makefile").write_text("setup:\n\t@true\n", encoding="utf-8")
    (step,) = [c for c in run_commands(job_steps(config, "check")) if "make check" in c]
    # WHEN the check step runs THEN the job fails, saying why
    result = subprocess.run([*CIRCLECI_SHELL, step], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "No rule to make target 'check'" in result.stderr


# --- the plan comment -------------------------------------------------------------------------------

FAKE_CURL = """
import json, os, sys
from urllib.parse import urlsplit

args = sys.argv[1:]
state = os.environ["FAKE_GITHUB"]
method = args[args.index("--request") + 1] if "--request" in args else "GET"
url = urlsplit(args[-1])
key = f"{method} {url.path}" + (f"?{url.query}" if url.query else "")
data = None
if "--data" in args:
    ref = args[args.index("--data") + 1]
    data = json.load(open(ref[1:])) if ref.startswith("@") else json.loads(ref)
headers = [args[i + 1] for i, a in enumerate(args) if a == "--header"]
with open(os.path.join(state, "calls.jsonl"), "a") as log:
    log.write(json.dumps({"key": key, "argv": args, "headers": headers, "data": data}) + "\\n")
responses = json.load(open(os.path.join(state, "responses.json")))
print(json.dumps(responses.get(key, [] if method == "GET" else {})))
"""


class FakeGitHub:
    """A `curl` on PATH that answers GitHub API calls from a table and records them."""

    def __init__(self, root: Path, responses: dict[str, Any]) -> None:
        self.root = root
        (root / "responses.json").write_text(json.dumps(responses), encoding="utf-8")
        stub_executable(root / "bin" / "curl", FAKE_CURL)

    def run(self, plan: str, **env: str) -> subprocess.CompletedProcess[str]:
        plan_file = self.root / "plan.md"
        plan_file.write_text(plan, encoding="utf-8")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE_", "GITHUB_"))}
        environment = {
            **base,
            "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "FAKE_GITHUB": str(self.root),
            **env,
        }
        return subprocess.run(
            ["bash", str(COMMENT_SCRIPT), str(plan_file)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    @property
    def calls(self) -> list[dict[str, Any]]:
        log = self.root / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


PLAN = f"{MARKER}\n### Plan: `blog-prod` on AWS account 123456789012 in us-east-1\n\nNo changes.\n"
PR_ENV = {
    "GITHUB_TOKEN": "ghp_secret_token_value",
    "CIRCLE_PULL_REQUEST": "https://github.com/rocketclub/blog_infra/pull/42",
    "CIRCLE_SHA1": "0123456789abcdef0123456789abcdef01234567",
    "CIRCLE_BUILD_URL": "https://app.circleci.com/jobs/github/rocketclub/blog_infra/7",
}
COMMENTS = "/repos/rocketclub/blog_infra/issues/42/comments"


def test_without_a_token_the_plan_is_not_posted(tmp_path: Path) -> None:
    github = FakeGitHub(tmp_path, {})
    result = github.run(PLAN, CIRCLE_PULL_REQUEST=PR_ENV["CIRCLE_PULL_REQUEST"])
    assert result.returncode == 0, result.stderr
    assert "GITHUB_TOKEN is not set" in result.stdout
    assert github.calls == []


def test_the_first_plan_is_posted_as_a_new_comment(tmp_path: Path) -> None:
    # GIVEN a pull request without a plan comment
    github = FakeGitHub(tmp_path, {f"GET {COMMENTS}?per_page=100&page=1": [{"id": 1, "body": "LGTM"}]})
    # WHEN the plan is posted
    result = github.run(PLAN, **PR_ENV)
    # THEN one new comment holds the plan, marker first, with the commit it was planned for
    assert result.returncode == 0, result.stderr
    (post,) = [c for c in github.calls if c["key"].startswith("POST")]
    assert post["key"] == f"POST {COMMENTS}"
    assert post["data"]["body"].startswith(PLAN.rstrip("\n"))
    assert "`0123456789ab`" in post["data"]["body"]
    assert not [c for c in github.calls if c["key"].startswith("PATCH")]


def test_a_later_push_edits_the_same_comment(tmp_path: Path) -> None:
    # GIVEN a pull request whose second page of comments holds the earlier plan
    first_page = [{"id": n, "body": f"comment {n}"} for n in range(100)]
    github = FakeGitHub(
        tmp_path,
        {
            f"GET {COMMENTS}?per_page=100&page=1": first_page,
            f"GET {COMMENTS}?per_page=100&page=2": [{"id": 555, "body": f"{MARKER}\nold plan"}],
        },
    )
    # WHEN the new plan is posted
    result = github.run(PLAN.replace("No changes.", "new plan"), **PR_ENV)
    # THEN that comment is edited and no other one is added
    assert result.returncode == 0, result.stderr
    writes = [c for c in github.calls if not c["key"].startswith("GET")]
    assert [c["key"] for c in writes] == ["PATCH /repos/rocketclub/blog_infra/issues/comments/555"]
    assert "new plan" in writes[0]["data"]["body"]


def test_the_token_never_appears_on_a_command_line(tmp_path: Path) -> None:
    github = FakeGitHub(tmp_path, {})
    assert github.run(PLAN, **PR_ENV).returncode == 0
    assert github.calls
    for call in github.calls:
        assert PR_ENV["GITHUB_TOKEN"] not in " ".join(call["argv"])


def test_without_a_pull_request_nothing_is_posted(tmp_path: Path) -> None:
    # GIVEN a branch build with no open pull request for the branch
    github = FakeGitHub(tmp_path, {})
    env = {
        "GITHUB_TOKEN": "t",
        "CIRCLE_PROJECT_USERNAME": "rocketclub",
        "CIRCLE_PROJECT_REPONAME": "blog_infra",
        "CIRCLE_BRANCH": "feature/edge",
    }
    result = github.run(PLAN, **env)
    # THEN the open pull requests of the branch were looked up, and nothing was posted
    assert result.returncode == 0, result.stderr
    assert [c["key"] for c in github.calls] == [
        "GET /repos/rocketclub/blog_infra/pulls?state=open&head=rocketclub%3Afeature%2Fedge"
    ]


def test_a_branch_build_finds_its_pull_request(tmp_path: Path) -> None:
    github = FakeGitHub(
        tmp_path,
        {"GET /repos/rocketclub/blog_infra/pulls?state=open&head=rocketclub%3Aedge": [{"number": 42}]},
    )
    env = {
        "GITHUB_TOKEN": "t",
        "CIRCLE_PROJECT_USERNAME": "rocketclub",
        "CIRCLE_PROJECT_REPONAME": "blog_infra",
        "CIRCLE_BRANCH": "edge",
    }
    assert github.run(PLAN, **env).returncode == 0
    assert [c["key"] for c in github.calls if c["key"].startswith("POST")] == [f"POST {COMMENTS}"]


def test_a_huge_plan_is_truncated_below_githubs_limit(tmp_path: Path) -> None:
    github = FakeGitHub(tmp_path, {})
    assert github.run(PLAN + "| x |\n" * 20_000, **PR_ENV).returncode == 0
    (post,) = [c for c in github.calls if c["key"].startswith("POST")]
    assert len(post["data"]["body"]) < 65_536
    assert "reports/plan.md" in post["data"]["body"]


def test_the_comment_script_is_executable() -> None:
    assert os.access(COMMENT_SCRIPT, os.X_OK)
    assert COMMENT_SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")


# --- the guide names what the pipeline needs -----------------------------------------------------------


def test_the_guide_names_every_context_and_variable(config: dict[str, Any]) -> None:
    guide = CI_DOC.read_text(encoding="utf-8")
    contexts = {inv["context"] for inv in workflow_jobs(config).values() if inv.get("context")}
    variables = {"AWS_PLAN_ROLE_ARN", "AWS_DEPLOY_ROLE_ARN", "AWS_REGION", "GITHUB_TOKEN"}
    for name in sorted(
        contexts
        | variables
        | {
            "CiPlanRoleArn",
            "CiDeployRoleArn",
            "blog-prod-ci-plan",
            "blog-prod-ci-deploy",
            "[circleci]",
            "cdk bootstrap",
        }
    ):
        assert name in guide, f"docs/ci.md does not mention {name}"
