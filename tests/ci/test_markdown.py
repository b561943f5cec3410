"""The plan as Markdown (the pull-request comment), and `blog-infra diff --format`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blog_infra import operations
from blog_infra.cli import main
from blog_infra.commands import platform
from blog_infra.exit_codes import ExitCode
from blog_infra.markdown import PLAN_MARKER, plan_markdown
from blog_infra.planning import Action, Plan, Replacement, ResourceChange

STACK = "blog-prod"
TARGET = "AWS account 123456789012 in us-east-1"

BUCKET_REPLACED = ResourceChange(
    "DataBucketsRaw", "AWS::S3::Bucket", Action.MODIFY, Replacement.YES, ("BucketName",), retained=True
)
CLUSTER_REMOVED = ResourceChange("AuroraCluster", "AWS::RDS::DBCluster", Action.REMOVE, retained=True)
KEY_DELETED = ResourceChange("DataKey", "AWS::KMS::Key", Action.REMOVE)
QUEUE_ADDED = ResourceChange("EventsQueue", "AWS::SQS::Queue", Action.ADD)
ROLE_CHANGED = ResourceChange(
    "TaskRole", "AWS::IAM::Role", Action.MODIFY, properties=("Policies", "AssumeRolePolicyDocument")
)
SG_MAYBE_REPLACED = ResourceChange(
    "DbSecurityGroup", "AWS::EC2::SecurityGroup", Action.MODIFY, Replacement.CONDITIONAL
)
SECRET_MAYBE_REPLACED = ResourceChange(
    "DbSecret", "AWS::SecretsManager::Secret", Action.MODIFY, Replacement.CONDITIONAL
)

DANGEROUS_PLAN = Plan(
    changes=(QUEUE_ADDED, BUCKET_REPLACED, ROLE_CHANGED, CLUSTER_REMOVED, SG_MAYBE_REPLACED),
    outputs_changed=("DataBucketsRaw",),
)
SAFE_PLAN = Plan(changes=(QUEUE_ADDED, ROLE_CHANGED))


def render(plan: Plan) -> str:
    return plan_markdown(plan, stack=STACK, target=TARGET)


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Action ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_the_marker_is_the_first_line_then_the_heading() -> None:
    # GIVEN any plan WHEN rendered
    lines = render(SAFE_PLAN).splitlines()
    # THEN the hidden marker comes first, so CI finds its comment again, then the heading
    assert lines[0] == PLAN_MARKER == "<!-- blog-infra-plan -->"
    assert lines[1] == f"### Plan: `{STACK}` on {TARGET}"


def test_an_empty_plan_says_no_changes() -> None:
    # GIVEN a plan without changes WHEN rendered
    text = render(Plan())
    # THEN it says so, and nothing else
    assert text == f"{PLAN_MARKER}\n### Plan: `{STACK}` on {TARGET}\n\nNo changes.\n"


def test_the_danger_block_comes_first_and_lists_every_dangerous_change() -> None:
    # GIVEN a plan that replaces a bucket and removes the database among harmless changes
    text = render(DANGEROUS_PLAN)
    # THEN a red (CAUTION) DANGER block comes before the summary and the table
    danger = text.index("> [!CAUTION]")
    assert danger < text.index("**Summary:**") < text.index("| Action |")
    assert "**DANGER: 2 stateful resources would be replaced or deleted.**" in text
    block = [line for line in text.splitlines() if line.startswith(">")]
    # AND it names exactly the stateful replacements and deletions
    listed = [line for line in block if line.startswith("> - ")]
    assert len(listed) == 2
    assert any(
        "`DataBucketsRaw` (AWS::S3::Bucket): replaced" in line and "BucketName" in line for line in listed
    )
    assert any("`AuroraCluster` (AWS::RDS::DBCluster): removed from the stack" in line for line in listed)
    assert not any(c.logical_id in "\n".join(block) for c in (QUEUE_ADDED, ROLE_CHANGED, SG_MAYBE_REPLACED))
    assert "--allow-replace" in "\n".join(block)


def test_the_danger_block_tells_deleted_from_retained_and_possible_replacement() -> None:
    text = render(Plan(changes=(KEY_DELETED, CLUSTER_REMOVED, SECRET_MAYBE_REPLACED)))
    assert "**DANGER: 3 stateful resources" in text
    assert "`DataKey` (AWS::KMS::Key): deleted with its data" in text
    assert "`AuroraCluster` (AWS::RDS::DBCluster): removed from the stack; its DeletionPolicy keeps" in text
    assert "`DbSecret` (AWS::SecretsManager::Secret): may be replaced" in text


def test_one_dangerous_change_is_singular() -> None:
    assert "**DANGER: 1 stateful resource would be replaced or deleted.**" in render(
        Plan(changes=(KEY_DELETED,))
    )


def test_a_safe_plan_has_no_danger_block() -> None:
    text = render(SAFE_PLAN)
    assert "DANGER" not in text
    assert "[!CAUTION]" not in text


def test_the_summary_counts_each_kind_of_change() -> None:
    # GIVEN 1 add, 3 modifications (1 replacement, 1 possible) and 1 removal, 2 of them dangerous
    summary = next(line for line in render(DANGEROUS_PLAN).splitlines() if line.startswith("**Summary:**"))
    # THEN the counts match Plan.counts()
    assert summary == (
        "**Summary:** 1 to add, 3 to modify, 1 to remove, 2 replaced, 2 stateful replaced or deleted."
    )


def test_the_table_has_one_row_per_change() -> None:
    # GIVEN the dangerous plan WHEN rendered
    rows = table_rows(render(DANGEROUS_PLAN))
    # THEN each change is a row: action, logical id, type, replacement, changed properties
    assert rows == [
        ["add", "`EventsQueue`", "AWS::SQS::Queue", "", ""],
        ["**modify (STATEFUL)**", "`DataBucketsRaw`", "AWS::S3::Bucket", "yes", "`BucketName`"],
        ["modify", "`TaskRole`", "AWS::IAM::Role", "", "`Policies`, `AssumeRolePolicyDocument`"],
        ["**remove (STATEFUL)**", "`AuroraCluster`", "AWS::RDS::DBCluster", "", ""],
        ["modify", "`DbSecurityGroup`", "AWS::EC2::SecurityGroup", "conditional", ""],
    ]
    assert "| Action | Logical id | Type | Replacement | Changed properties |" in render(DANGEROUS_PLAN)


def test_changed_outputs_are_listed_after_the_table() -> None:
    text = render(DANGEROUS_PLAN)
    assert text.index("**Outputs changed:** `DataBucketsRaw`") > text.index("| Action |")


def test_a_plan_that_only_changes_outputs_has_no_table() -> None:
    text = render(Plan(outputs_changed=("DatabaseEndpoint",)))
    assert "| Action |" not in text
    assert "No changes." not in text
    assert "**Outputs changed:** `DatabaseEndpoint`" in text


def test_a_pipe_in_a_value_cannot_break_the_table() -> None:
    odd = ResourceChange("Odd", "Custom::Thing|Other", Action.MODIFY, properties=("A|B",))
    (row,) = table_rows(render(Plan(changes=(odd,))))
    assert "Custom::Thing\\|Other" in render(Plan(changes=(odd,)))
    assert len(row) == 5


def test_the_text_ends_with_one_newline() -> None:
    for plan in (Plan(), SAFE_PLAN, DANGEROUS_PLAN):
        text = render(plan)
        assert text.endswith("\n") and not text.endswith("\n\n")


# --- blog-infra diff --format ---------------------------------------------------------------------------


class FakeTarget:
    description = TARGET


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`diff --env prod` with AWS replaced by a fixed plan."""

    def use(plan: Plan) -> None:
        monkeypatch.setattr(platform, "resolve", lambda config: FakeTarget())
        every_image_in_place = lambda config, target, **_: (config, [])  # noqa: E731
        monkeypatch.setattr(platform.images, "with_waiting_services", every_image_in_place)
        monkeypatch.setattr(operations, "plan", lambda config, target: plan)

    return use


def test_diff_format_markdown_prints_the_comment_and_exits_3(
    planned: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod has changes
    planned(DANGEROUS_PLAN)
    # WHEN the plan is asked for as Markdown
    code = main(["diff", "--env", "prod", "--format", "markdown"])
    # THEN stdout is exactly the Markdown, and the exit code says "changes"
    assert code == ExitCode.CHANGES
    assert capsys.readouterr().out == plan_markdown(DANGEROUS_PLAN, stack="blog-prod", target=TARGET)


def test_diff_format_markdown_without_changes_exits_0(
    planned: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    planned(Plan())
    assert main(["diff", "--env", "prod", "--format", "markdown"]) == ExitCode.OK
    assert capsys.readouterr().out.endswith("No changes.\n")


@pytest.mark.parametrize("argv", [["--json"], ["--format", "json"], ["--json", "--format", "json"]])
def test_diff_json_and_format_json_agree(
    planned: Any, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    planned(SAFE_PLAN)
    assert main(["diff", "--env", "prod", *argv]) == ExitCode.CHANGES
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(SAFE_PLAN.to_json()))


def test_diff_json_with_another_format_is_bad_input(planned: Any, capsys: pytest.CaptureFixture[str]) -> None:
    planned(SAFE_PLAN)
    assert main(["diff", "--env", "prod", "--json", "--format", "markdown"]) == ExitCode.BAD_INPUT
    assert "--json contradicts --format markdown" in capsys.readouterr().err


def test_diff_rejects_an_unknown_format(planned: Any) -> None:
    planned(SAFE_PLAN)
    assert main(["diff", "--env", "prod", "--format", "html"]) == ExitCode.BAD_INPUT
