"""Account shapes: an emulator started with a shape meets the account as AWS may hand it out, and
refuses there what AWS refuses; the default emulator stays as forgiving as moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from emulator import control
from emulator.shape import AccountShape
from tests.emulator.emulator_testlib import Emulator, describe, template

ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
REFUSED = (
    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
    "below its minimum value of [100]."
)


def function_template(**function_props: Any) -> str:
    return template(
        {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": ASSUME_LAMBDA}},
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
                    **function_props,
                },
            },
        }
    )


@pytest.fixture(scope="module")
def new_account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator of a new account: Lambda quota 10."""
    state_dir = tmp_path_factory.mktemp("new-account")
    status = control.start(state_dir, AccountShape(lambda_concurrency=10))
    assert status.endpoint
    try:
        yield Emulator(state_dir=state_dir, endpoint=status.endpoint, log_path=status.log_path)
    finally:
        control.stop(state_dir)


def test_a_shape_travels_as_json_and_refuses_unknown_fields() -> None:
    shape = AccountShape(lambda_concurrency=10, zone_ids={"us-east-1a": "use1-az3"})
    assert AccountShape.from_json(shape.to_json()) == shape
    assert AccountShape.from_json("") == AccountShape()
    with pytest.raises(ValueError, match="EMULATOR_SHAPE must be a JSON object with keys among"):
        AccountShape.from_json('{"lambda_quota": 10}')


def test_get_account_settings_reports_the_shape_quota_less_the_reservations(new_account: Emulator) -> None:
    # GIVEN a new account (quota 10) WHEN its Lambda settings are read
    limits = new_account.client("lambda").get_account_settings()["AccountLimit"]
    # THEN the quota is 10, all of it unreserved
    assert (limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]) == (10, 10)


def test_a_function_template_reserving_concurrency_fails_in_a_new_account(new_account: Emulator) -> None:
    # GIVEN a new account (quota 10)
    cfn = new_account.client("cloudformation")
    offset = control.log_size(new_account.log_path)
    # WHEN a stack creates a function that reserves 1 execution
    cfn.create_stack(StackName="reserving", TemplateBody=function_template(ReservedConcurrentExecutions=1))
    # THEN the function fails as Lambda refuses it, and the stack rolls back
    stack = describe(cfn, "reserving")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="reserving")["StackEvents"]
    failed = [
        e for e in events if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Function"
    ]
    assert failed and REFUSED in failed[0]["ResourceStatusReason"]
    assert control.log_problems(new_account.log_path, offset) == []
    # AND the same function without a reservation deploys
    cfn.create_stack(StackName="unreserved", TemplateBody=function_template())
    assert describe(cfn, "unreserved")["StackStatus"] == "CREATE_COMPLETE"


def test_put_function_concurrency_is_refused_in_a_new_account(new_account: Emulator) -> None:
    # GIVEN a function without a reservation in a new account
    cfn = new_account.client("cloudformation")
    cfn.create_stack(StackName="plain", TemplateBody=function_template(FunctionName="plain-fn"))
    assert describe(cfn, "plain")["StackStatus"] == "CREATE_COMPLETE"
    # WHEN 1 execution is reserved for it THEN Lambda's refusal comes back
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        new_account.client("lambda").put_function_concurrency(
            FunctionName="plain-fn", ReservedConcurrentExecutions=1
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert refused.value.response["Error"]["Message"] == REFUSED


def test_the_default_emulator_reports_lambdas_default_quota_and_refuses_no_reservation(
    emulator: Emulator,
) -> None:
    # GIVEN the default emulator
    lambda_ = emulator.client("lambda")
    cfn = emulator.client("cloudformation")
    # WHEN a function reserving 5 executions is deployed
    cfn.create_stack(
        StackName="default-reserving", TemplateBody=function_template(ReservedConcurrentExecutions=5)
    )
    # THEN it deploys, and the settings show the default quota less the reservation
    assert describe(cfn, "default-reserving")["StackStatus"] == "CREATE_COMPLETE"
    limits = lambda_.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == 1000
    assert limits["UnreservedConcurrentExecutions"] == 1000 - sum(
        int(
            lambda_.get_function_concurrency(FunctionName=f["FunctionName"]).get(
                "ReservedConcurrentExecutions", 0
            )
        )
        for f in lambda_.list_functions()["Functions"]
    )
    assert limits["UnreservedConcurrentExecutions"] <= 995


def test_an_emulator_started_without_a_shape_does_not_inherit_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a shape in the caller's environment WHEN an emulator is started without one
    monkeypatch.setenv("EMULATOR_SHAPE", AccountShape(lambda_concurrency=10).to_json())
    status = control.start(tmp_path / "state")
    try:
        assert status.endpoint
        client = Emulator(state_dir=tmp_path / "state", endpoint=status.endpoint, log_path=status.log_path)
        # THEN it has moto's defaults
        assert client.client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
    finally:
        control.stop(tmp_path / "state")
