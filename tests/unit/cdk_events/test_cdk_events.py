"""Parsing the CDK CLI's `--progress events` lines into progress and failures."""

from __future__ import annotations

from blog_infra.cdk import parse_event

WITH_PATH = (
    "blog-local | 12/80 | 4:05:06 AM | CREATE_COMPLETE      | AWS::S3::Bucket                | "
    "Data/Raw/Resource (DataBucketRaw) "
)
FAILED_WITH_PATH = (
    "blog-local | 13/80 | 4:05:07 AM | CREATE_FAILED        | AWS::RDS::DBCluster            | "
    "Database/Cluster/Resource (AuroraCluster) Resource handler returned message: invalid version"
)
FAILED_WITHOUT_PATH = (
    "blog-local | 1/3 | 4:42:20 AM | CREATE_FAILED           | AWS::SSM::Parameter   | "
    "Broken ValidationException: Value '' at 'value' failed to satisfy constraint"
)


def test_progress_line_gives_count_and_logical_id() -> None:
    event = parse_event(WITH_PATH)
    assert event is not None
    assert (event.done, event.total, event.status) == (12, 80, "CREATE_COMPLETE")
    assert (event.resource_type, event.resource, event.reason) == ("AWS::S3::Bucket", "DataBucketRaw", "")
    assert not event.failed


def test_failure_carries_its_reason() -> None:
    event = parse_event(FAILED_WITH_PATH)
    assert event is not None and event.failed
    assert event.resource == "AuroraCluster"
    assert event.reason == "Resource handler returned message: invalid version"


def test_failure_of_a_resource_without_a_construct_path() -> None:
    event = parse_event(FAILED_WITHOUT_PATH)
    assert event is not None and event.failed
    assert event.resource == "Broken"
    assert event.reason.startswith("ValidationException: Value ''")


def test_other_lines_are_not_events() -> None:
    assert parse_event("blog-local: creating CloudFormation changeset...") is None
    assert parse_event("✨  Synthesis time: 0.09s") is None
