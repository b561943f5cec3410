"""The decisions of the deploy, destroy and bootstrap flows, with the synthesis, the target and the
CDK CLI replaced by recorders (the real synthesis and gates run in tests/deploy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from blog_infra import operations
from blog_infra.cdk import CdkRun, Event
from blog_infra.change_sets import ChangeSet
from blog_infra.errors import CliError, Unavailable
from blog_infra.exit_codes import ExitCode
from blog_infra.planning import Action, Plan, Replacement, ResourceChange
from blog_infra.synthesis import Assembly

ADD = Plan(changes=(ResourceChange("Q", "AWS::SQS::Queue", Action.ADD),))
DANGER = Plan(changes=(ResourceChange("Raw", "AWS::S3::Bucket", Action.MODIFY, Replacement.YES),))
ASSEMBLY = Assembly(directory=Path(__file__).parent / "assembly", stack_name="blog-test")
"""A stand-in assembly whose template (`assembly/blog-test.template.json`) preflight reads."""


@pytest.fixture(autouse=True)
def images_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service's image is in ECR: which services wait for theirs is decided against a real
    emulator (tests/integration/test_day0_images.py)."""
    monkeypatch.setattr(operations.images, "with_waiting_services", lambda config, target: (config, []))
    # Preflight reads the account; its checks are tested against the emulator in tests/preflight.
    nothing_found = operations.preflight.Report(env="test", target="the test target", findings=(), checks=())
    monkeypatch.setattr(operations.preflight, "run", lambda config, target, template, plan: nothing_found)


class FakeTarget:
    description = "the test target"

    def __init__(self) -> None:
        self.reachability_checks: list[str] = []

    def ensure_reachable(self, during: str) -> None:
        self.reachability_checks.append(during)


class Config:
    name = "test"
    stack_name = "blog-test"
    account_id = "123456789012"
    region = "us-east-1"
    deletion_protections: tuple[str, ...] = ()
    waiting_for_images: tuple[str, ...] = ()


class ProtectedConfig(Config):
    deletion_protections = ("aurora.deletion_protection",)


class Flow:
    """Stands in for the plans, the gated synthesis, the CDK CLI's stack commands and the change set
    CloudFormation describes; records them."""

    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self.change_set = ChangeSet(name="", status="CREATE_COMPLETE", reason="")
        self.calls: list[tuple[Any, ...]] = []
        self.status: str | None = "UPDATE_COMPLETE"

    @contextmanager
    def planned(self, config: Any, target: Any, *, checked: bool = True) -> Iterator[tuple[Assembly, Plan]]:
        """The gated synthesis and its plan (recorded), or without `checked` the fast plan, as `plan`."""
        if checked:
            self.calls.append(("gated synthesis", checked))
        yield ASSEMBLY, self.plans.pop(0)

    def stack_command(
        self, verb: str, assembly: Assembly, target: Any, *options: str, during: str | None = None
    ) -> None:
        method = next(o for o in options if o.startswith("--method="))
        self.calls.append((verb, method.removeprefix("--method="), *self.named(options)))

    def describe(self, target: Any, stack_name: str, name: str) -> ChangeSet:
        self.calls.append(("describe", stack_name, name))
        return self.change_set

    def delete(self, target: Any, stack_name: str, name: str) -> None:
        self.calls.append(("delete", stack_name, name))

    @staticmethod
    def named(options: tuple[str, ...]) -> tuple[str, ...]:
        return (options[options.index("--change-set-name") + 1],)


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch) -> Flow:
    recorder = Flow()
    monkeypatch.setattr(operations, "planned", recorder.planned)
    monkeypatch.setattr(operations, "_stack_command", recorder.stack_command)
    monkeypatch.setattr(operations, "plan", lambda config, target: recorder.plans.pop(0))
    monkeypatch.setattr(operations.change_sets, "describe", recorder.describe)
    monkeypatch.setattr(operations.change_sets, "delete", recorder.delete)
    monkeypatch.setattr(operations.stacks, "stack_status", lambda target, name: recorder.status)
    monkeypatch.setattr(
        operations.stacks, "status_reason", lambda target, name: "Balancer could not be deleted"
    )

    def first_create(config: Any, target: Any, **kwargs: Any) -> bool:
        recorder.calls.append(("first create", config.stack_name))
        return True

    monkeypatch.setattr(operations, "first_create", first_create)
    return recorder


def prepared_and(flow: Flow, *then: str) -> list[tuple[Any, ...]]:
    """The calls of a deploy that prepared a change set and read it, then did `then` with it."""
    ((name,),) = {call[2:] for call in flow.calls if call[0] == "deploy"}
    steps = {"execute": ("deploy", "execute-change-set", name), "delete": ("delete", "blog-test", name)}
    return [
        ("gated synthesis", True),
        ("deploy", "prepare-change-set", name),
        ("describe", "blog-test", name),
        *(steps[step] for step in then),
    ]


def test_nothing_to_change_deploys_nothing_and_skips_the_gated_synthesis(flow: Flow) -> None:
    flow.plans += [Plan()]
    assert operations.deploy(Config(), FakeTarget()) is False  # type: ignore[arg-type]
    assert flow.calls == []


def test_a_dangerous_first_plan_is_refused_before_the_gated_synthesis(flow: Flow) -> None:
    flow.plans += [DANGER]
    with pytest.raises(CliError) as error:
        operations.deploy(Config(), FakeTarget())  # type: ignore[arg-type]
    assert error.value.code is ExitCode.REFUSED
    assert flow.calls == []


def test_a_change_prepares_the_gated_assemblys_change_set_and_executes_it(flow: Flow) -> None:
    flow.plans += [ADD, ADD]
    flow.change_set = ChangeSet("cs", "CREATE_COMPLETE", "", ADD.changes)
    assert operations.deploy(Config(), FakeTarget()) is True  # type: ignore[arg-type]
    assert flow.calls == prepared_and(flow, "execute")
    assert flow.calls[1][2].startswith("blog-infra-")


def test_an_allowed_replacement_deploys(flow: Flow) -> None:
    flow.plans += [DANGER, DANGER]
    flow.change_set = ChangeSet("cs", "CREATE_COMPLETE", "", DANGER.changes)
    assert operations.deploy(Config(), FakeTarget(), allow_replace=["Raw"]) is True  # type: ignore[arg-type]
    assert flow.calls == prepared_and(flow, "execute")


def test_the_gated_plan_is_guarded_too(flow: Flow) -> None:
    # GIVEN a first plan that is safe and a gated plan that is not (the code changed in between)
    flow.plans += [ADD, DANGER]
    with pytest.raises(CliError) as error:
        operations.deploy(Config(), FakeTarget())  # type: ignore[arg-type]
    # THEN it is refused on the plan's word, and the change set is deleted unexecuted
    assert error.value.code is ExitCode.REFUSED
    assert "Raw (AWS::S3::Bucket, modify, replacement yes) by plan;" in str(error.value)
    assert flow.calls == prepared_and(flow, "delete")


def test_what_only_the_change_set_replaces_is_refused(flow: Flow) -> None:
    # GIVEN a plan that is safe and a change set in which CloudFormation may replace the bucket
    flow.plans += [ADD, ADD]
    conditional = ResourceChange("Raw", "AWS::S3::Bucket", Action.MODIFY, Replacement.CONDITIONAL)
    flow.change_set = ChangeSet("cs", "CREATE_COMPLETE", "", (conditional, *ADD.changes))
    with pytest.raises(CliError) as error:
        operations.deploy(Config(), FakeTarget())  # type: ignore[arg-type]
    assert error.value.code is ExitCode.REFUSED
    assert "Raw (AWS::S3::Bucket, modify, replacement conditional) by change set;" in str(error.value)
    assert flow.calls == prepared_and(flow, "delete")


def test_an_empty_change_set_deploys_nothing_and_is_deleted(flow: Flow) -> None:
    flow.plans += [ADD, ADD]
    flow.change_set = ChangeSet(
        "cs", "FAILED", "The submitted information didn't contain changes. Submit different information."
    )
    assert operations.deploy(Config(), FakeTarget()) is False  # type: ignore[arg-type]
    assert flow.calls == prepared_and(flow, "delete")


def test_a_failed_preparation_deletes_the_change_set(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    flow.plans += [ADD, ADD]

    def fails(verb: str, assembly: Assembly, target: Any, *options: str, during: str | None = None) -> None:
        flow.stack_command(verb, assembly, target, *options)
        raise CliError(f"{during} of blog-test failed: no")

    monkeypatch.setattr(operations, "_stack_command", fails)
    with pytest.raises(CliError, match=r"^preparing the change set of blog-test failed: no$"):
        operations.deploy(Config(), FakeTarget())  # type: ignore[arg-type]
    ((name,),) = {call[2:] for call in flow.calls if call[0] == "deploy"}
    assert flow.calls[-1] == ("delete", "blog-test", name)


def test_a_gated_plan_with_nothing_to_change_deploys_nothing(flow: Flow) -> None:
    flow.plans += [ADD, Plan()]
    assert operations.deploy(Config(), FakeTarget()) is False  # type: ignore[arg-type]
    assert flow.calls == [("gated synthesis", True)]


@pytest.fixture
def assemblies(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    made: list[tuple[Any, ...]] = []

    def synth(config: Any, directory: Path, **options: Any) -> Assembly:
        made.append((directory, options))
        assert directory.is_dir()
        return Assembly(directory=directory, stack_name=config.stack_name)

    monkeypatch.setattr(operations, "synth", synth)
    return made


@pytest.mark.parametrize(
    ("checked", "options"),
    [(True, {}), (False, {"gates": False, "validate": False})],
    ids=["gated", "planning"],
)
def test_a_private_assembly_is_gated_unless_only_planning(
    assemblies: list[tuple[Any, ...]], checked: bool, options: dict[str, Any]
) -> None:
    with operations.private_assembly(Config(), checked=checked) as assembly:  # type: ignore[arg-type]
        assert assembly.directory.parent.name == ".runs"
        assert assembly.directory.name.startswith("test-")
    ((directory, used),) = assemblies
    assert used == options
    assert not Path(directory).exists()


def test_plans_compare_with_the_deployed_template(
    assemblies: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(operations.stacks, "deployed_template", lambda t, name: seen.append(name) or None)
    monkeypatch.setattr(Assembly, "template", lambda self: {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    result = operations.plan(Config(), FakeTarget())  # type: ignore[arg-type]
    assert [c.action for c in result.changes] == [Action.ADD]
    assert seen == ["blog-test"]
    assert assemblies[0][1] == {"gates": False, "validate": False}


class Cdk:
    """Stands in for the CDK CLI: records each run and answers with the next result (success)."""

    def __init__(self) -> None:
        self.runs: list[list[str]] = []
        self.results: list[CdkRun] = []

    def __call__(self, args: list[str], target: Any, on_event: Any = None) -> CdkRun:
        self.runs.append(args)
        if on_event:
            on_event(Event(1, 2, "CREATE_COMPLETE", "AWS::SQS::Queue", "Q", ""))
        return self.results.pop(0) if self.results else CdkRun(returncode=0)


@pytest.fixture
def cdk(monkeypatch: pytest.MonkeyPatch) -> Cdk:
    recorder = Cdk()
    monkeypatch.setattr(operations, "run_cdk", recorder)
    return recorder


def test_a_stack_command_runs_the_cdk_cli_on_the_assembly(cdk: Cdk) -> None:
    operations._stack_command("deploy", ASSEMBLY, FakeTarget(), "--x")  # type: ignore[arg-type]
    (args,) = cdk.runs
    assert args == [
        "deploy",
        "blog-test",
        "--app",
        str(ASSEMBLY.directory),
        "--x",
        "--progress",
        "events",
        "--no-notices",
        "--ci",
    ]


def test_a_failed_stack_command_names_the_failure_and_checks_the_target(cdk: Cdk) -> None:
    failure = Event(3, 9, "CREATE_FAILED", "AWS::SSM::Parameter", "Broken", "bad value")
    cdk.results.append(CdkRun(returncode=1, failures=[failure]))
    target = FakeTarget()
    with pytest.raises(CliError) as error:
        operations._stack_command("destroy", ASSEMBLY, target)  # type: ignore[arg-type]
    assert (
        str(error.value)
        == "destroy of blog-test failed: Broken (AWS::SSM::Parameter) CREATE_FAILED: bad value"
    )
    assert error.value.code is ExitCode.FAILED
    assert target.reachability_checks == ["destroy of blog-test"]


def test_destroy_of_a_stack_that_is_not_deployed_does_nothing(
    cdk: Cdk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations.stacks, "stack_status", lambda target, name: None)
    assert operations.destroy(Config(), FakeTarget()) is False  # type: ignore[arg-type]
    assert cdk.runs == []


def test_destroy_runs_on_the_fast_synthesis(
    cdk: Cdk, assemblies: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations.stacks, "stack_status", lambda target, name: "CREATE_COMPLETE")
    assert operations.destroy(Config(), FakeTarget()) is True  # type: ignore[arg-type]
    (args,) = cdk.runs
    assert args[:2] == ["destroy", "blog-test"] and "--force" in args
    assert assemblies[0][1] == {"gates": False, "validate": False}


def test_bootstrap_runs_once(cdk: Cdk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only when the account is not bootstrapped yet (every CDK CLI run, this one too, has a working
    directory of its own outside the repository: tests/unit/cdk_events/test_cdk_run.py)."""
    monkeypatch.setattr(operations.stacks, "is_bootstrapped", lambda target: True)
    operations.bootstrap(Config(), FakeTarget())  # type: ignore[arg-type]
    assert cdk.runs == []
    monkeypatch.setattr(operations.stacks, "is_bootstrapped", lambda target: False)
    operations.bootstrap(Config(), FakeTarget())  # type: ignore[arg-type]
    (args,) = cdk.runs
    assert args == ["bootstrap", "aws://123456789012/us-east-1", "--no-notices", "--ci"]


def test_a_failed_bootstrap_says_where(cdk: Cdk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations.stacks, "is_bootstrapped", lambda target: False)
    cdk.results.append(CdkRun(returncode=1, lines=["denied"]))
    with pytest.raises(CliError, match=r"^bootstrap of the test target failed: denied$"):
        operations.bootstrap(Config(), FakeTarget())  # type: ignore[arg-type]


def test_unavailable_is_a_cli_error() -> None:
    assert issubclass(Unavailable, CliError)


@pytest.mark.parametrize("status", [None, "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"])
def test_a_stack_to_create_with_deletion_protection_is_created_in_two_steps(
    flow: Flow, status: str | None
) -> None:
    # GIVEN no stack yet (or one whose create was rolled back) and a configuration with protection
    flow.status = status
    flow.plans.append(ADD)
    # WHEN it is deployed THEN, after the fast plan that preflight reads, the two-step first create
    # runs, and nothing else
    assert operations.deploy(ProtectedConfig(), FakeTarget()) is True  # type: ignore[arg-type]
    assert flow.calls == [("first create", "blog-test")] and flow.plans == []


def test_an_existing_stack_or_an_unprotected_one_is_deployed_in_one_step(flow: Flow) -> None:
    # GIVEN a deployed stack with protection, and a stack to create without any
    flow.plans += [ADD, ADD, ADD, ADD]
    flow.change_set = ChangeSet("cs", "CREATE_COMPLETE", "", ADD.changes)
    assert operations.deploy(ProtectedConfig(), FakeTarget()) is True  # type: ignore[arg-type]
    flow.status = None
    assert operations.deploy(Config(), FakeTarget()) is True  # type: ignore[arg-type]
    # THEN neither goes through the first create
    assert ("first create", "blog-test") not in flow.calls


def test_a_stack_whose_rollback_failed_is_refused_in_one_line(flow: Flow) -> None:
    # GIVEN a stack whose first create could not be rolled back
    flow.status = "ROLLBACK_FAILED"
    # WHEN it is deployed
    with pytest.raises(CliError) as error:
        operations.deploy(ProtectedConfig(), FakeTarget())  # type: ignore[arg-type]
    # THEN nothing runs, and the one line names the state, its reason and the way out
    assert error.value.code is ExitCode.FAILED
    message = str(error.value)
    assert "\n" not in message
    assert "ROLLBACK_FAILED (Balancer could not be deleted)" in message and "delete the stack" in message
    assert flow.calls == []
