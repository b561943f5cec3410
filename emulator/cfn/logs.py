"""CloudWatch Logs: ``LogGroup`` keeps moto's create and gains a deletion that works."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.logs.models import LogGroup as MotoLogGroup
from moto.logs.models import logs_backends

from emulator.cfn._base import MotoDelegate


class LogGroup(MotoDelegate, CloudFormationModel):
    """``AWS::Logs::LogGroup``: moto's create, plus deletion."""

    MOTO_MODEL = MotoLogGroup

    @staticmethod
    def cloudformation_name_type() -> str:
        return "LogGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::LogGroup"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = logs_backends[account_id][region_name]
        if resource.name in backend.groups:
            backend.delete_log_group(resource.name)
