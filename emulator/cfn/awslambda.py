"""Lambda: ``Function`` (inline code updates failed in moto), ``Permission`` (could not be deleted)
and ``EventInvokeConfig`` (missing)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend
from moto.core.common_models import CloudFormationModel
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from emulator import lambda_account
from emulator.cfn._base import (
    Resource,
    ResourceError,
    as_int,
    physical_name,
    properties_of,
    random_suffix,
    tag_dict,
)

log = logging.getLogger("emulator.cfn")

_OPTIONAL = (
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "ReservedConcurrentExecutions",
    "Architectures",
    "Layers",
    "TracingConfig",
    "DeadLetterConfig",
    "EphemeralStorage",
    "PackageType",
    "ImageConfig",
    "KMSKeyArn",
    "LoggingConfig",
)
_PLACEHOLDER = (
    "def handler(event, context):\n"
    "    raise RuntimeError('placeholder: the local emulator does not run code')\n"
)


def _backend(account_id: str, region_name: str) -> LambdaBackend:
    return get_backend(account_id, region_name)


def _has_function(backend: LambdaBackend, name: str) -> bool:
    try:
        backend.get_function(name)
    except Exception:
        return False
    return True


def _code(code: dict[str, Any], function_name: str, account_id: str, region_name: str) -> dict[str, Any]:
    """Code in the shape of the Lambda API.

    Inline ``ZipFile`` source is zipped and base64-encoded as CloudFormation does (moto did this on
    create only, so every update of inline code failed). Code in an S3 object that is not in the
    emulator (e.g. published by another repository) is replaced by a placeholder with a warning:
    nothing runs Lambda code here, and the function must still exist for what depends on it.
    """
    code = dict(code)
    if "ZipFile" in code:
        return {
            "ZipFile": base64.b64encode(
                LambdaFunction._create_zipfile_from_plaintext_code(str(code["ZipFile"]))
            )
        }
    if "S3Bucket" in code and "S3Key" in code:
        s3 = s3_backends[account_id][get_partition(region_name)]
        bucket = s3.buckets.get(str(code["S3Bucket"]))
        if bucket is None or str(code["S3Key"]) not in bucket.keys:
            log.warning(
                "function %s: code s3://%s/%s is not in the emulator; using placeholder code",
                function_name,
                code["S3Bucket"],
                code["S3Key"],
            )
            return _code({"ZipFile": _PLACEHOLDER}, function_name, account_id, region_name)
    return code


def _refuse_reservation(backend: LambdaBackend, name: str, concurrency: Any) -> None:
    """Fail the resource as Lambda refuses a reservation below the account's minimum unreserved."""
    try:
        lambda_account.refuse_reservation(backend, name, concurrency)
    except InvalidParameterValueException as exc:
        raise ResourceError(
            f'Resource handler returned message: "{exc.message}" (Service: Lambda, Status Code: 400)'
        ) from None


class Function(Resource, CloudFormationModel):
    """``AWS::Lambda::Function``; Ref gives the name, ``Arn`` the ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "FunctionName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Function"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus")

    def attributes(self) -> dict[str, Any]:
        function = _backend(self.account_id, self.region_name).get_function(self.physical_id)
        return {
            "Arn": function.function_arn,
            "SnapStartResponse.ApplyOn": "None",
            "SnapStartResponse.OptimizationStatus": "Off",
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Function:
        props = properties_of(cloudformation_json)
        name = str(props.get("FunctionName") or physical_name(resource_name, 64, lower=False))
        spec: dict[str, Any] = {
            "FunctionName": name,
            "Code": _code(dict(props.get("Code") or {}), name, account_id, region_name),
            "Handler": props.get("Handler"),
            "Role": props.get("Role"),
            "Runtime": props.get("Runtime"),
            "Tags": tag_dict(props.get("Tags")),
        }
        spec.update({key: props[key] for key in _OPTIONAL if key in props})
        backend = _backend(account_id, region_name)
        _refuse_reservation(backend, name, props.get("ReservedConcurrentExecutions"))
        backend.create_function(spec)
        return cls(name, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if properties.get("FunctionName", self.physical_id) != self.physical_id:
            replacement = Function.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        backend = _backend(self.account_id, self.region_name)
        _refuse_reservation(backend, self.physical_id, properties.get("ReservedConcurrentExecutions"))
        function = backend.get_function(self.physical_id)
        config = {
            key: properties[key] for key in ("Handler", "Role", "Runtime", *_OPTIONAL) if key in properties
        }
        function.update_configuration(config)
        if properties.get("Code") != self.properties.get("Code"):
            function.update_function_code(
                _code(dict(properties.get("Code") or {}), self.physical_id, self.account_id, self.region_name)
            )
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if _has_function(backend, self.physical_id):
            backend.delete_function(self.physical_id)


class Permission(Resource, CloudFormationModel):
    """``AWS::Lambda::Permission``, added to the function's resource policy under its own statement id."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Permission"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    function_name: str

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Permission:
        props = properties_of(cloudformation_json)
        statement_id = f"{kwargs.get('LogicalId', 'Permission')}-{random_suffix()}"
        function_name = str(props.get("FunctionName") or "")
        statement = {key: value for key, value in props.items() if key != "FunctionName"}
        statement["StatementId"] = statement_id
        _backend(account_id, region_name).add_permission(function_name, None, json.dumps(statement))  # type: ignore[arg-type]
        resource = cls(statement_id, account_id, region_name, props)
        resource.function_name = function_name
        return resource

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.delete_resource()
        replacement = Permission.create_from_cloudformation_json(
            new_resource_name, {"Properties": properties}, self.account_id, self.region_name
        )
        return replacement

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if _has_function(backend, self.function_name):
            backend.remove_permission(self.function_name, self.physical_id)


class EventInvokeConfig(Resource, CloudFormationModel):
    """``AWS::Lambda::EventInvokeConfig`` (retries, maximum event age, destinations)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventInvokeConfig:
        props = properties_of(cloudformation_json)
        function_name = str(props.get("FunctionName") or "")
        if not function_name:
            raise ResourceError("EventInvokeConfig needs FunctionName")
        cls._put(function_name, props, account_id, region_name)
        return cls(function_name, account_id, region_name, props)

    @staticmethod
    def _put(function_name: str, props: dict[str, Any], account_id: str, region_name: str) -> None:
        config: dict[str, Any] = {}
        if props.get("MaximumRetryAttempts") is not None:
            config["MaximumRetryAttempts"] = as_int(props["MaximumRetryAttempts"])
        if props.get("MaximumEventAgeInSeconds") is not None:
            config["MaximumEventAgeInSeconds"] = as_int(props["MaximumEventAgeInSeconds"])
        if props.get("DestinationConfig"):
            config["DestinationConfig"] = props["DestinationConfig"]
        backend = _backend(account_id, region_name)
        backend.get_function(function_name).event_invoke_config = []
        backend.put_function_event_invoke_config(function_name, config)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self._put(self.physical_id, properties, self.account_id, self.region_name)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if _has_function(backend, self.physical_id):
            backend.get_function(self.physical_id).event_invoke_config = []
