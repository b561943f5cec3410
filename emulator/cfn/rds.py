"""RDS: ``DBCluster`` (missing in moto; restores from a snapshot or to a point in time),
``DBInstance`` (dropped its cluster), ``DBSubnetGroup`` (Ref gave a Python object),
``DBClusterParameterGroup`` (missing), and the platform's ``Custom::AuroraBootstrap``."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.rds.models import DBCluster as MotoDBCluster
from moto.rds.models import DBInstance as MotoDBInstance
from moto.rds.models import RDSBackend, rds_backends

from emulator.cfn._base import (
    Resource,
    ResourceError,
    as_bool,
    as_int,
    physical_name,
    properties_of,
    random_suffix,
    tag_list,
)
from emulator.cfn.cdk import NATIVE_CUSTOM_RESOURCES, NativeCustomResource


def _backend(account_id: str, region_name: str) -> RDSBackend:
    return rds_backends[account_id][region_name]


def _name(value: Any) -> str | None:
    """A referenced name, whether Ref produced a string or (for some moto types) the object."""
    if value is None:
        return None
    return str(getattr(value, "name", value)).lower()


class DBSubnetGroup(Resource, CloudFormationModel):
    """``AWS::RDS::DBSubnetGroup`` whose Ref is the group name, as on AWS."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DBSubnetGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::RDS::DBSubnetGroup"

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
    ) -> DBSubnetGroup:
        from moto.ec2.models import ec2_backends

        props = properties_of(cloudformation_json)
        name = physical_name(str(props.get("DBSubnetGroupName") or resource_name), 255)
        ec2 = ec2_backends[account_id][region_name]
        subnets = [ec2.get_subnet(str(subnet_id)) for subnet_id in props.get("SubnetIds") or []]
        if not subnets:
            raise ResourceError("DBSubnetGroup needs SubnetIds")
        _backend(account_id, region_name).create_subnet_group(
            name, str(props.get("DBSubnetGroupDescription") or ""), subnets, tag_list(props.get("Tags"))
        )
        return cls(name, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        from moto.ec2.models import ec2_backends

        group = _backend(self.account_id, self.region_name).subnet_groups[self.physical_id]
        ec2 = ec2_backends[self.account_id][self.region_name]
        group.subnets = [ec2.get_subnet(str(subnet_id)) for subnet_id in properties.get("SubnetIds") or []]
        group.description = str(properties.get("DBSubnetGroupDescription") or "")
        group.tags = tag_list(properties.get("Tags"))
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        _backend(self.account_id, self.region_name).delete_subnet_group(self.physical_id)


class DBClusterParameterGroup(Resource, CloudFormationModel):
    """``AWS::RDS::DBClusterParameterGroup``, missing in moto's CloudFormation."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DBClusterParameterGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::RDS::DBClusterParameterGroup"

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
    ) -> DBClusterParameterGroup:
        props = properties_of(cloudformation_json)
        name = physical_name(str(props.get("DBClusterParameterGroupName") or resource_name), 255)
        backend = _backend(account_id, region_name)
        group = backend.create_db_cluster_parameter_group(
            db_cluster_parameter_group_name=name,
            db_parameter_group_family=str(props.get("Family")),
            description=str(props.get("Description") or ""),
            tags=tag_list(props.get("Tags")),
        )
        cls._set_parameters(group, props)
        return cls(name, account_id, region_name, props)

    @staticmethod
    def _set_parameters(group: Any, props: dict[str, Any]) -> None:
        parameters = props.get("Parameters") or {}
        if isinstance(parameters, str):
            parameters = json.loads(parameters)
        group.parameters = {
            str(k): {"ParameterName": str(k), "ParameterValue": str(v), "ApplyMethod": "pending-reboot"}
            for k, v in dict(parameters).items()
        }

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        group = _backend(self.account_id, self.region_name).db_cluster_parameter_groups[self.physical_id]
        self._set_parameters(group, properties)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        _backend(self.account_id, self.region_name).delete_db_cluster_parameter_group(self.physical_id)


_CLUSTER_REPLACEMENT = (
    "DBClusterIdentifier",
    "Engine",
    "EngineMode",
    "DatabaseName",
    "DBSubnetGroupName",
    "KmsKeyId",
    "StorageEncrypted",
    "AvailabilityZones",
    "SnapshotIdentifier",
    "SourceDBClusterIdentifier",
    "RestoreType",
    "RestoreToTime",
    "UseLatestRestorableTime",
)
"""Properties whose change creates a new cluster (the resource schema's createOnlyProperties)."""


def _major(version: str) -> str:
    return version.split(".")[0]


def _aware(moment: datetime) -> datetime:
    """moto keeps UTC times without their offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _restore_source(backend: RDSBackend, props: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The cluster's arguments when the template restores it, with what RDS takes from the source.

    As RestoreDBClusterFromSnapshot and RestoreDBClusterToPointInTime do: the master user and the
    encryption come from the snapshot or source cluster (the template's KmsKeyId, if set, re-encrypts);
    a snapshot restore takes the template's engine version, which may not be older than the snapshot's
    nor of another major version; a point-in-time restore keeps the source's engine version and needs
    a time inside the source's restorable window. Nothing else exists to copy: the emulator holds no
    data."""
    snapshot_id = props.get("SnapshotIdentifier")
    source_id = props.get("SourceDBClusterIdentifier")
    if snapshot_id:
        key = str(snapshot_id).rsplit(":", 1)[-1].lower() if str(snapshot_id).startswith("arn:") else None
        key = key or str(snapshot_id).lower()
        snapshot = backend.cluster_snapshots.get(key)
        if snapshot is None:
            raise ResourceError(f"DBClusterSnapshotNotFoundFault: DBClusterSnapshot {snapshot_id} not found.")
        if snapshot.status != "available":
            raise ResourceError(
                f"InvalidDBClusterSnapshotStateFault: DBClusterSnapshot {snapshot_id} is {snapshot.status}"
            )
        source = snapshot.cluster
        engine = str(kwargs.get("engine") or snapshot.engine)
        version = str(kwargs.get("engine_version") or snapshot.engine_version)
        if engine != snapshot.engine:
            raise ResourceError(
                f"InvalidParameterCombination: snapshot {snapshot_id} is of engine {snapshot.engine}, "
                f"not {engine}"
            )
        if _major(version) != _major(snapshot.engine_version) or _version_key(version) < _version_key(
            snapshot.engine_version
        ):
            raise ResourceError(
                f"InvalidParameterCombination: cannot restore snapshot {snapshot_id} of version "
                f"{snapshot.engine_version} to version {version}"
            )
        encrypted = bool(snapshot.storage_encrypted)
        return kwargs | {
            "engine": engine,
            "engine_version": version,
            "master_username": snapshot.master_username,
            "storage_encrypted": encrypted or bool(kwargs.get("kms_key_id")),
            "kms_key_id": kwargs.get("kms_key_id") or source.kms_key_id,
        }
    if source_id:
        found = backend.clusters.get(_name(source_id) or "")
        if found is None:
            raise ResourceError(f"DBClusterNotFoundFault: DBCluster {source_id} not found.")
        source = found
        latest = as_bool(props.get("UseLatestRestorableTime"))
        to_time = props.get("RestoreToTime")
        if latest == bool(to_time):
            raise ResourceError(
                "InvalidParameterCombination: give exactly one of RestoreToTime, UseLatestRestorableTime"
            )
        if to_time:
            try:
                moment = datetime.fromisoformat(str(to_time).replace("Z", "+00:00"))
            except ValueError as error:
                raise ResourceError(f"InvalidParameterValue: RestoreToTime {to_time}: {error}") from None
            earliest = _aware(source.earliest_restorable_time)
            newest = _aware(source.latest_restorable_time)
            if moment.tzinfo is None or not earliest <= moment <= newest:
                raise ResourceError(
                    f"InvalidRestoreFault: RestoreToTime {to_time} is outside the restorable window of "
                    f"{source.db_cluster_identifier} ({earliest.isoformat()} to {newest.isoformat()})"
                )
        return kwargs | {
            "engine": source.engine,
            "engine_version": source.engine_version,
            "master_username": source.master_username,
            "storage_encrypted": bool(source.storage_encrypted) or bool(kwargs.get("kms_key_id")),
            "kms_key_id": kwargs.get("kms_key_id") or source.kms_key_id,
        }
    return kwargs


class DBCluster(Resource, CloudFormationModel):
    """``AWS::RDS::DBCluster`` (e.g. Aurora PostgreSQL Serverless v2), built on moto's RDS backend so
    that DescribeDBClusters shows what the template asked for."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DBClusterIdentifier"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::RDS::DBCluster"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in (
            "Endpoint.Address",
            "Endpoint.Port",
            "ReadEndpoint.Address",
            "DBClusterArn",
            "DBClusterResourceId",
            "MasterUserSecret.SecretArn",
            "Endpoint",
            "ReadEndpoint",
        )

    @property
    def cluster(self) -> MotoDBCluster:
        return _backend(self.account_id, self.region_name).clusters[self.physical_id]

    def attributes(self) -> dict[str, Any]:
        cluster = self.cluster
        secret = getattr(cluster, "master_user_secret", None)
        return {
            "Endpoint.Address": cluster.endpoint,
            "Endpoint.Port": str(cluster.port),
            "ReadEndpoint.Address": cluster.reader_endpoint,
            "Endpoint": cluster.endpoint,
            "ReadEndpoint": cluster.reader_endpoint,
            "DBClusterArn": cluster.db_cluster_arn,
            "DBClusterResourceId": cluster.db_cluster_resource_id,
            "MasterUserSecret.SecretArn": secret.secret_arn if secret is not None else "",
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DBCluster:
        props = properties_of(cloudformation_json)
        identifier = physical_name(str(props.get("DBClusterIdentifier") or resource_name))
        backend = _backend(account_id, region_name)
        if identifier in backend.clusters:
            raise ResourceError(f"DB cluster {identifier} already exists")
        master_secret = props.get("MasterUserSecret") or {}
        cluster_kwargs: dict[str, Any] = {
            "db_cluster_identifier": identifier,
            "engine": props.get("Engine"),
            "engine_version": props.get("EngineVersion"),
            "engine_mode": props.get("EngineMode"),
            "port": as_int(props.get("Port")),
            "database_name": props.get("DatabaseName"),
            "db_subnet_group_name": _name(props.get("DBSubnetGroupName")),
            "db_cluster_parameter_group_name": _name(props.get("DBClusterParameterGroupName")),
            "vpc_security_group_ids": [str(s) for s in props.get("VpcSecurityGroupIds") or []],
            "backup_retention_period": as_int(props.get("BackupRetentionPeriod"), 1),
            "preferred_backup_window": props.get("PreferredBackupWindow") or "01:37-02:07",
            "preferred_maintenance_window": props.get("PreferredMaintenanceWindow") or "wed:02:40-wed:03:10",
            "storage_encrypted": as_bool(props.get("StorageEncrypted"), bool(props.get("KmsKeyId"))),
            "kms_key_id": props.get("KmsKeyId"),
            "deletion_protection": as_bool(props.get("DeletionProtection")),
            "copy_tags_to_snapshot": as_bool(props.get("CopyTagsToSnapshot")),
            "enable_cloudwatch_logs_exports": list(props.get("EnableCloudwatchLogsExports") or []),
            "enable_iam_database_authentication": as_bool(props.get("EnableIAMDatabaseAuthentication")),
            "serverless_v2_scaling_configuration": cls._scaling(props),
            "master_username": props.get("MasterUsername"),
            "master_user_password": props.get("MasterUserPassword"),
            "manage_master_user_password": as_bool(props.get("ManageMasterUserPassword")),
            "master_user_secret_kms_key_id": master_secret.get("KmsKeyId"),
            "availability_zones": props.get("AvailabilityZones"),
            "storage_type": props.get("StorageType"),
            "network_type": props.get("NetworkType"),
            "tags": tag_list(props.get("Tags")),
        }
        cluster_kwargs = _restore_source(
            backend, props, {k: v for k, v in cluster_kwargs.items() if v is not None}
        )
        try:
            cluster = backend.create_db_cluster(cluster_kwargs)
        except TypeError as error:
            raise ResourceError(f"invalid DBCluster properties: {error}") from error
        cluster._enable_http_endpoint = as_bool(props.get("EnableHttpEndpoint"))
        cluster.status = "available"
        if cluster.manage_master_user_password:
            cls._fix_managed_secret(cluster)
        return cls(identifier, account_id, region_name, props)

    @staticmethod
    def _scaling(props: dict[str, Any]) -> dict[str, Any] | None:
        scaling = props.get("ServerlessV2ScalingConfiguration")
        if not scaling:
            return None
        return {
            "MinCapacity": float(scaling.get("MinCapacity", 0.5)),
            "MaxCapacity": float(scaling.get("MaxCapacity", 1)),
            **(
                {"SecondsUntilAutoPause": int(scaling["SecondsUntilAutoPause"])}
                if "SecondsUntilAutoPause" in scaling
                else {}
            ),
        }

    @staticmethod
    def _fix_managed_secret(cluster: MotoDBCluster) -> None:
        """moto fills the managed master secret with a fixed admin/password pair; AWS stores the
        cluster's real master username and a generated password."""
        from moto.secretsmanager.utils import random_password

        secret = cluster.master_user_secret.secret
        value = {
            "username": cluster.master_username,
            "password": random_password(32, "\"'@/\\", False, False, False, False, False, True),
        }
        backend = cluster.backend.secretsmanager
        backend.put_secret_value(
            secret_id=secret.arn,
            secret_string=json.dumps(value),
            secret_binary=None,  # type: ignore[arg-type]
            client_request_token=None,  # type: ignore[arg-type]
            version_stages=["AWSCURRENT"],
        )

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        old = self.properties
        if any(properties.get(key) != old.get(key) for key in _CLUSTER_REPLACEMENT):
            replacement = DBCluster.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.retire()
            return replacement
        cluster = self.cluster
        cluster.deletion_protection = as_bool(properties.get("DeletionProtection"))
        cluster.backup_retention_period = as_int(properties.get("BackupRetentionPeriod"), 1) or 1
        cluster.serverless_v2_scaling_configuration = self._scaling(properties)
        cluster.enabled_cloudwatch_logs_exports = list(properties.get("EnableCloudwatchLogsExports") or [])
        cluster._enable_http_endpoint = as_bool(properties.get("EnableHttpEndpoint"))
        cluster.vpc_security_group_ids = [str(s) for s in properties.get("VpcSecurityGroupIds") or []]
        cluster.iam_auth = as_bool(properties.get("EnableIAMDatabaseAuthentication"))
        cluster.copy_tags_to_snapshot = as_bool(properties.get("CopyTagsToSnapshot"))
        if properties.get("EngineVersion"):
            cluster.engine_version = str(properties["EngineVersion"])
        if properties.get("PreferredBackupWindow"):
            cluster.preferred_backup_window = str(properties["PreferredBackupWindow"])
        if properties.get("PreferredMaintenanceWindow"):
            cluster.preferred_maintenance_window = str(properties["PreferredMaintenanceWindow"])
        if properties.get("DBClusterParameterGroupName"):
            cluster.parameter_group = str(_name(properties["DBClusterParameterGroupName"]))
        if properties.get("MasterUserPassword") and properties.get("MasterUserPassword") != old.get(
            "MasterUserPassword"
        ):
            cluster.master_user_password = str(properties["MasterUserPassword"])
        cluster.tags = tag_list(properties.get("Tags"))
        self.properties = properties
        return self

    def retire(self) -> None:
        """After a replacement (a restore): Retain keeps the old cluster, Snapshot deletes it after a
        final snapshot, Delete deletes it, as CloudFormation's UpdateReplacePolicy does."""
        if self.update_replace_policy != "Retain":
            self._delete(final_snapshot=self.update_replace_policy == "Snapshot")

    def delete_resource(self) -> None:
        """With DeletionPolicy Snapshot a final snapshot is kept, as CloudFormation does."""
        self._delete(final_snapshot=self.deletion_policy == "Snapshot")

    def _delete(self, *, final_snapshot: bool) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.clusters:
            snapshot = None
            if final_snapshot:
                snapshot = f"{self.physical_id}-snapshot-{random_suffix(8).lower()}"
            backend.delete_db_cluster(self.physical_id, snapshot)
            # DeleteDBCluster removes the cluster's automated backups unless asked to keep them (moto
            # kept them, so a cluster of the same name made within the minute collided with them).
            for key, kept in list(backend.cluster_snapshots.items()):
                if (
                    kept.snapshot_type == "automated"
                    and kept.cluster.db_cluster_identifier == self.physical_id
                ):
                    backend.cluster_snapshots.pop(key)


_INSTANCE_REPLACEMENT = (
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "Engine",
    "DBSubnetGroupName",
    "KmsKeyId",
)


class DBInstance(Resource, CloudFormationModel):
    """``AWS::RDS::DBInstance``; replaces moto's model, which dropped ``DBClusterIdentifier`` so a
    cluster's instances never became its members."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DBInstanceIdentifier"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::RDS::DBInstance"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Endpoint.Address", "Endpoint.Port", "DBInstanceArn", "DbiResourceId", "Endpoint")

    @property
    def instance(self) -> MotoDBInstance:
        return _backend(self.account_id, self.region_name).databases[self.physical_id]

    def attributes(self) -> dict[str, Any]:
        instance = self.instance
        return {
            "Endpoint.Address": instance.address,
            "Endpoint.Port": str(instance.port),
            "Endpoint": instance.address,
            "DBInstanceArn": instance.db_instance_arn,
            "DbiResourceId": instance.dbi_resource_id,
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DBInstance:
        props = properties_of(cloudformation_json)
        identifier = physical_name(str(props.get("DBInstanceIdentifier") or resource_name))
        backend = _backend(account_id, region_name)
        cluster_id = _name(props.get("DBClusterIdentifier"))
        db_kwargs: dict[str, Any] = {
            "db_instance_identifier": identifier,
            "db_instance_class": props.get("DBInstanceClass"),
            "engine": props.get("Engine"),
            "db_subnet_group_name": _name(props.get("DBSubnetGroupName")),
            "availability_zone": props.get("AvailabilityZone"),
            "publicly_accessible": as_bool(props.get("PubliclyAccessible")),
            "auto_minor_version_upgrade": as_bool(props.get("AutoMinorVersionUpgrade"), True),
            "copy_tags_to_snapshot": as_bool(props.get("CopyTagsToSnapshot")),
            "db_parameter_group_name": _name(props.get("DBParameterGroupName")),
            "preferred_maintenance_window": str(
                props.get("PreferredMaintenanceWindow") or "wed:06:38-wed:07:08"
            ).lower(),
            "enable_performance_insights": as_bool(props.get("EnablePerformanceInsights")),
            "ca_certificate_identifier": props.get("CACertificateIdentifier"),
            "monitoring_interval": as_int(props.get("MonitoringInterval")),
            "monitoring_role_arn": props.get("MonitoringRoleArn"),
            "tags": tag_list(props.get("Tags")),
        }
        if cluster_id:
            if cluster_id not in backend.clusters:
                raise ResourceError(f"DB cluster {cluster_id} not found")
            db_kwargs["db_cluster_identifier"] = cluster_id
            db_kwargs["engine"] = db_kwargs["engine"] or backend.clusters[cluster_id].engine
            db_kwargs["promotion_tier"] = as_int(props.get("PromotionTier"), 1)
        else:
            db_kwargs.update(
                {
                    "allocated_storage": as_int(props.get("AllocatedStorage")),
                    "engine_version": props.get("EngineVersion"),
                    "db_name": props.get("DBName"),
                    "master_username": props.get("MasterUsername"),
                    "master_user_password": props.get("MasterUserPassword"),
                    "manage_master_user_password": as_bool(props.get("ManageMasterUserPassword")),
                    "port": as_int(props.get("Port")),
                    "multi_az": as_bool(props.get("MultiAZ")),
                    "storage_encrypted": as_bool(props.get("StorageEncrypted")),
                    "storage_type": props.get("StorageType"),
                    "kms_key_id": props.get("KmsKeyId"),
                    "iops": as_int(props.get("Iops")),
                    "backup_retention_period": as_int(props.get("BackupRetentionPeriod"), 1),
                    "vpc_security_group_ids": [str(s) for s in props.get("VpcSecurityGroupIds") or []],
                    "deletion_protection": as_bool(props.get("DeletionProtection")),
                    "max_allocated_storage": as_int(props.get("MaxAllocatedStorage")),
                }
            )
        db_kwargs = {k: v for k, v in db_kwargs.items() if v is not None}
        instance = backend.create_db_instance(db_kwargs)
        instance.status = "available"
        return cls(instance.db_instance_identifier, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        old = self.properties
        if any(properties.get(key) != old.get(key) for key in _INSTANCE_REPLACEMENT):
            replacement = DBInstance.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.retire()
            return replacement
        instance = self.instance
        instance.db_instance_class = properties.get("DBInstanceClass") or instance.db_instance_class
        instance.publicly_accessible = as_bool(properties.get("PubliclyAccessible"))
        if properties.get("PromotionTier") is not None and hasattr(instance, "promotion_tier"):
            instance.promotion_tier = as_int(properties.get("PromotionTier"), 1)
        instance.tags = tag_list(properties.get("Tags"))
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.databases:
            backend.delete_db_instance(self.physical_id)


# --- Custom::AuroraBootstrap --------------------------------------------------------------------

_BOOTSTRAP_HANDLER = Path("modules", "core", "rds", "bootstrap", "handler.py")


@cache
def _bootstrap_handler() -> ModuleType:
    """The platform's bootstrap handler, loaded from its own file as Lambda loads it (it imports
    nothing from the project)."""
    spec = importlib.util.find_spec("infra")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("the platform's infra package is not importable")
    path = Path(next(iter(spec.submodule_search_locations))) / _BOOTSTRAP_HANDLER
    module_spec = importlib.util.spec_from_file_location("aurora_bootstrap_handler", path)
    if module_spec is None or module_spec.loader is None:
        raise ResourceError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module  # dataclasses look their module up there
    module_spec.loader.exec_module(module)
    return module


class _Secrets:
    """The handler's Secrets Manager client, over moto's backend."""

    def __init__(self, account_id: str, region_name: str) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        self._backend = secretsmanager_backends[account_id][region_name]

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        return self._backend.get_secret_value(SecretId, None, "AWSCURRENT")  # type: ignore[arg-type]

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> Mapping[str, Any]:
        version = self._backend.put_secret_value(
            secret_id=SecretId,
            secret_string=SecretString,
            secret_binary=None,  # type: ignore[arg-type]
            client_request_token=None,  # type: ignore[arg-type]
            version_stages=["AWSCURRENT"],
        )
        return {"ARN": SecretId, "VersionId": str(version)}


class _DataApi:
    """The handler's SQL executor, over moto's RDS Data API: it refuses a cluster that does not exist
    or has no Data API, as AWS does, and runs nothing (there is no PostgreSQL server; moto answers
    every statement with no rows)."""

    def __init__(self, cluster_arn: str, account_id: str, region_name: str) -> None:
        from moto.rdsdata.models import rdsdata_backends

        clusters = _backend(account_id, region_name).clusters.values()
        cluster = next((c for c in clusters if c.db_cluster_arn == cluster_arn), None)
        if cluster is None:
            raise ResourceError(f"BadRequestException: DB cluster {cluster_arn} not found")
        if not getattr(cluster, "_enable_http_endpoint", False):
            raise ResourceError(f"BadRequestException: HttpEndpoint is not enabled for cluster {cluster_arn}")
        self._cluster_arn = cluster_arn
        self._data_api = rdsdata_backends[account_id][region_name]

    def execute(self, sql: str, database: str) -> list[tuple[object, ...]]:
        result = self._data_api.execute_statement(resource_arn=self._cluster_arn, sql=sql)
        return [tuple(field.get("stringValue") for field in record) for record in result.records or []]


class AuroraBootstrap(NativeCustomResource):
    """``Custom::AuroraBootstrap``: the platform's own handler runs, in process, on create and update,
    with moto's Secrets Manager and RDS Data API: each consumer secret receives the cluster's
    connection fields (host, port, username, dbname, engine), as on AWS. Its SQL runs nowhere, so no
    database or role exists; the physical id is the handler's (one per cluster), so a new cluster
    replaces the resource as on AWS. Delete does nothing, as the handler's."""

    data: Mapping[str, Any] = {}

    @classmethod
    def physical_id_of(cls, properties: Mapping[str, Any], logical_id: str) -> str:
        return str(_bootstrap_handler().physical_resource_id(str(properties.get("ClusterArn", ""))))

    def attributes(self) -> dict[str, Any]:
        return dict(self.data)

    def apply(self, old: dict[str, Any] | None) -> None:
        handler = _bootstrap_handler()
        event: dict[str, Any] = {
            "RequestType": "Create" if old is None else "Update",
            "ResourceProperties": self.properties,
            **({"OldResourceProperties": old, "PhysicalResourceId": self.physical_id} if old else {}),
        }
        cluster_arn = str(self.properties.get("ClusterArn", ""))
        try:
            result = handler.on_event(
                event,
                secrets=_Secrets(self.account_id, self.region_name),
                executor=_DataApi(cluster_arn, self.account_id, self.region_name),
            )
        except handler.BootstrapError as error:
            raise ResourceError(str(error)) from None
        self.physical_id = str(result["PhysicalResourceId"])
        self.data = dict(result.get("Data") or {})

    def remove(self) -> None:
        """The handler's Delete retains databases, roles and secrets: nothing to do."""


NATIVE_CUSTOM_RESOURCES["Custom::AuroraBootstrap"] = AuroraBootstrap
