"""Helpers of the emulator tests: an AWS client factory and deploy/describe shortcuts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from emulator import control

REGION = "us-east-1"


@dataclass(frozen=True)
class Emulator:
    state_dir: Path
    endpoint: str
    log_path: Path

    def env(self) -> dict[str, str]:
        """The process environment for AWS clients: inherited AWS_* variables dropped."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
        return base | control.client_environment(self.endpoint, REGION)

    def client(self, service: str) -> Any:
        env = control.client_environment(self.endpoint, REGION)
        return boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client(
            service,
            endpoint_url=self.endpoint,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None, **sections: Any) -> str:
    body: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, **sections}
    if outputs:
        body["Outputs"] = {key: {"Value": value} for key, value in outputs.items()}
    return json.dumps(body)


def create_stack(
    cfn: Any, name: str, body: str, via_change_set: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Create a stack directly or through a CREATE change set; returns its description."""
    if via_change_set:
        change_set = cfn.create_change_set(
            StackName=name, ChangeSetName="create", ChangeSetType="CREATE", TemplateBody=body, **kwargs
        )
        assert cfn.describe_change_set(ChangeSetName="create", StackName=name)["Status"] == "CREATE_COMPLETE"
        cfn.execute_change_set(ChangeSetName=change_set["Id"])
    else:
        cfn.create_stack(StackName=name, TemplateBody=body, **kwargs)
    stack = describe(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return stack


def update_stack(cfn: Any, name: str, body: str, **kwargs: Any) -> dict[str, Any]:
    """Update a stack through an UPDATE change set, as the CDK CLI does."""
    change_set = cfn.create_change_set(
        StackName=name, ChangeSetName="update", ChangeSetType="UPDATE", TemplateBody=body, **kwargs
    )
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    stack = describe(cfn, name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    return stack


def describe(cfn: Any, name: str) -> dict[str, Any]:
    stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return stack


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def delete_stack(cfn: Any, name: str) -> None:
    stack_id = describe(cfn, name)["StackId"]
    cfn.delete_stack(StackName=name)
    status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert status["StackStatus"] == "DELETE_COMPLETE", status.get("StackStatusReason")
