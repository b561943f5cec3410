"""Secrets Manager: ``Secret``, ``SecretTargetAttachment``, ``RotationSchedule``, ``ResourcePolicy``.

moto has the API but no CloudFormation models for any of them. ``install_rotation`` also makes
RotateSecret refuse, with an explanation, to rotate a secret through a Lambda function: moto would
invoke the function in Docker, which is not here, and then make an empty version current.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random
from moto.secretsmanager.exceptions import InvalidRequestException
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend, secretsmanager_backends
from moto.secretsmanager.utils import random_password

from emulator.cfn._base import Resource, ResourceError, as_bool, as_int, properties_of, tag_list


def _backend(account_id: str, region_name: str) -> SecretsManagerBackend:
    return secretsmanager_backends[account_id][region_name]


def _secret(backend: SecretsManagerBackend, secret_id: str) -> FakeSecret:
    secret = backend.describe_secret(secret_id)
    if not isinstance(secret, FakeSecret):
        raise ResourceError(f"{secret_id} is a replica; change its primary secret instead")
    return secret


def generate_secret_string(spec: dict[str, Any]) -> str:
    """The value CloudFormation generates for ``GenerateSecretString``.

    With SecretStringTemplate and GenerateStringKey the password is added to the template's JSON
    under that key; otherwise the value is the bare password. Defaults follow GetRandomPassword.
    """
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if bool(template) != bool(key):
        raise ResourceError("SecretStringTemplate and GenerateStringKey must be given together")
    length = as_int(spec.get("PasswordLength"), 32) or 32
    if not 1 <= length <= 4096:
        raise ResourceError(f"PasswordLength {length} is out of range 1..4096")
    password = random_password(
        password_length=length,
        exclude_characters=str(spec.get("ExcludeCharacters") or ""),
        exclude_numbers=as_bool(spec.get("ExcludeNumbers")),
        exclude_punctuation=as_bool(spec.get("ExcludePunctuation")),
        exclude_uppercase=as_bool(spec.get("ExcludeUppercase")),
        exclude_lowercase=as_bool(spec.get("ExcludeLowercase")),
        include_space=as_bool(spec.get("IncludeSpace")),
        require_each_included_type=as_bool(spec.get("RequireEachIncludedType"), True) and length >= 4,
    )
    if not template:
        return password
    try:
        document = json.loads(str(template))
    except ValueError as error:
        raise ResourceError("SecretStringTemplate is not valid JSON") from error
    if not isinstance(document, dict):
        raise ResourceError("SecretStringTemplate must be a JSON object")
    document[str(key)] = password
    return json.dumps(document)


class Secret(Resource, CloudFormationModel):
    """``AWS::SecretsManager::Secret``; Ref and ``Id`` give the ARN, as on AWS."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def attributes(self) -> dict[str, Any]:
        return {"Id": self.physical_id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Secret:
        props = properties_of(cloudformation_json)
        name = str(props.get("Name") or resource_name)
        backend = _backend(account_id, region_name)
        backend.create_secret(
            name=name,
            secret_string=cls._value(props),
            secret_binary=None,
            description=props.get("Description"),
            tags=tag_list(props.get("Tags")) or None,
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(backend.describe_secret(name).arn, account_id, region_name, props)

    @staticmethod
    def _value(props: dict[str, Any]) -> str:
        if "SecretString" in props and "GenerateSecretString" in props:
            raise ResourceError("SecretString and GenerateSecretString cannot both be given")
        if "SecretString" in props:
            return str(props["SecretString"])
        return generate_secret_string(dict(props.get("GenerateSecretString") or {}))

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        old = self.properties
        if properties.get("Name", old.get("Name")) != old.get("Name"):
            replacement = Secret.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.retire()
            return replacement
        backend = _backend(self.account_id, self.region_name)
        value_changed = properties.get("SecretString") != old.get("SecretString") or properties.get(
            "GenerateSecretString"
        ) != old.get("GenerateSecretString")
        backend.update_secret(
            secret_id=self.physical_id,
            secret_string=self._value(properties) if value_changed else None,
            client_request_token=str(mock_random.uuid4()),
            kms_key_id=properties.get("KmsKeyId"),
            description=properties.get("Description"),
        )
        secret = _secret(backend, self.physical_id)
        secret.description = properties.get("Description")
        secret.tags = tag_list(properties.get("Tags")) or None
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        backend.delete_secret(
            self.physical_id, recovery_window_in_days=None, force_delete_without_recovery=True
        )


_TARGET_KEYS = {
    "AWS::RDS::DBCluster": "dbClusterIdentifier",
    "AWS::RDS::DBInstance": "dbInstanceIdentifier",
    "AWS::Redshift::Cluster": "dbClusterIdentifier",
    "AWS::DocDB::DBCluster": "dbClusterIdentifier",
}


class SecretTargetAttachment(Resource, CloudFormationModel):
    """``AWS::SecretsManager::SecretTargetAttachment``: writes the database's connection details
    (engine, host, port, identifier) into the secret's JSON, as AWS does; Ref gives the secret ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::SecretTargetAttachment"

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
    ) -> SecretTargetAttachment:
        props = properties_of(cloudformation_json)
        secret_arn = cls._attach(props, account_id, region_name)
        return cls(secret_arn, account_id, region_name, props)

    @staticmethod
    def _attach(props: dict[str, Any], account_id: str, region_name: str) -> str:
        target_type = str(props.get("TargetType") or "")
        if target_type not in _TARGET_KEYS:
            raise ResourceError(f"TargetType {target_type!r} is not supported")
        details = _target_details(target_type, str(props.get("TargetId")), account_id, region_name)
        backend = _backend(account_id, region_name)
        secret = backend.describe_secret(str(props.get("SecretId")))
        current = backend.get_secret_value(secret.arn, None, "AWSCURRENT")  # type: ignore[arg-type]
        try:
            document = json.loads(current.get("SecretString") or "{}")
        except ValueError as error:
            raise ResourceError("the secret of a SecretTargetAttachment must hold a JSON object") from error
        if not isinstance(document, dict):
            raise ResourceError("the secret of a SecretTargetAttachment must hold a JSON object")
        document.update(details)
        backend.put_secret_value(
            secret_id=secret.arn,
            secret_string=json.dumps(document),
            secret_binary=None,  # type: ignore[arg-type]
            client_request_token=None,  # type: ignore[arg-type]
            version_stages=["AWSCURRENT"],
        )
        return str(secret.arn)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.physical_id = self._attach(properties, self.account_id, self.region_name)
        self.properties = properties
        return self


def _target_details(target_type: str, target_id: str, account_id: str, region_name: str) -> dict[str, Any]:
    from moto.rds.models import rds_backends

    rds = rds_backends[account_id][region_name]
    if target_type == "AWS::RDS::DBInstance":
        instance = rds.describe_db_instances(db_instance_identifier=target_id)[0]
        return {
            "engine": _engine_family(str(instance.engine)),
            "host": instance.address,
            "port": int(instance.port or 0),
            "dbInstanceIdentifier": instance.db_instance_identifier,
        }
    cluster = rds.describe_db_clusters(db_cluster_identifier=target_id)[0]
    return {
        "engine": _engine_family(str(cluster.engine)),
        "host": cluster.endpoint,
        "port": int(cluster.port),
        "dbClusterIdentifier": cluster.db_cluster_identifier,
    }


def _engine_family(engine: str) -> str:
    return (
        "postgres" if "postgres" in engine else "mysql" if "mysql" in engine or engine == "aurora" else engine
    )


class RotationSchedule(Resource, CloudFormationModel):
    """``AWS::SecretsManager::RotationSchedule``: recorded on the secret (DescribeSecret shows
    RotationEnabled, RotationLambdaARN, RotationRules and NextRotationDate); no rotation runs, because
    nothing runs Lambda code here (see ``install_rotation``). Ref gives the secret ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::RotationSchedule"

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
    ) -> RotationSchedule:
        props = properties_of(cloudformation_json)
        return cls(cls._record(props, account_id, region_name), account_id, region_name, props)

    @staticmethod
    def _record(props: dict[str, Any], account_id: str, region_name: str) -> str:
        secret = _secret(_backend(account_id, region_name), str(props.get("SecretId")))
        rules = dict(props.get("RotationRules") or {})
        hosted = props.get("HostedRotationLambda") or {}
        hosted_name = hosted.get("RotationLambdaName") or "hosted-rotation"
        lambda_arn = props.get("RotationLambdaARN") or (
            f"arn:aws:lambda:{region_name}:{account_id}:function:{hosted_name}" if hosted else ""
        )
        secret.rotation_requested = True
        secret.rotation_enabled = True
        secret.rotation_lambda_arn = str(lambda_arn)
        secret.auto_rotate_after_days = as_int(rules.get("AutomaticallyAfterDays"), 0) or 0
        if secret.auto_rotate_after_days and secret.next_rotation_date is None:
            # AWS schedules the first rotation one interval after the schedule is set (without
            # RotateImmediatelyOnUpdate, nothing rotates before), and shows it as NextRotationDate.
            secret.next_rotation_date = int(time.time()) + secret.auto_rotate_after_days * 86400
        return str(secret.arn)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.physical_id = self._record(properties, self.account_id, self.region_name)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.secrets:
            _secret(backend, self.physical_id).rotation_enabled = False


class ResourcePolicy(Resource, CloudFormationModel):
    """``AWS::SecretsManager::ResourcePolicy``, stored with PutResourcePolicy."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::ResourcePolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def attributes(self) -> dict[str, Any]:
        return {"Id": self.physical_id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ResourcePolicy:
        props = properties_of(cloudformation_json)
        arn, _ = _backend(account_id, region_name).put_resource_policy(
            str(props.get("SecretId")), json.dumps(props.get("ResourcePolicy"))
        )
        return cls(arn, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        _backend(self.account_id, self.region_name).put_resource_policy(
            str(properties.get("SecretId")), json.dumps(properties.get("ResourcePolicy"))
        )
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.secrets:
            backend.delete_resource_policy(self.physical_id)


NO_LAMBDA_ROTATION = (
    "the local emulator runs no Lambda code, so it cannot run the rotation function {function} of {secret}; "
    "the secret is unchanged (its schedule is recorded: DescribeSecret). Rotation runs on AWS."
)


def install_rotation() -> None:
    """Make RotateSecret refuse a rotation through a Lambda function, leaving the secret unchanged;
    idempotent. A rotation without a function (moto's own shortcut) is left as moto does it."""
    original = SecretsManagerBackend.rotate_secret
    if getattr(original, "emulator_refuses_lambda", False):
        return

    @functools.wraps(original)
    def rotate_secret(self: SecretsManagerBackend, secret_id: str, *args: Any, **kwargs: Any) -> str:
        function = kwargs.get("rotation_lambda_arn") or (args[1] if len(args) > 1 else None)
        if not function and self._is_valid_identifier(secret_id):
            function = getattr(self.secrets[secret_id], "rotation_lambda_arn", None)
        if function:
            raise InvalidRequestException(NO_LAMBDA_ROTATION.format(function=function, secret=secret_id))
        result: str = original(self, secret_id, *args, **kwargs)
        return result

    rotate_secret.emulator_refuses_lambda = True  # type: ignore[attr-defined]
    SecretsManagerBackend.rotate_secret = rotate_secret  # type: ignore[method-assign]
