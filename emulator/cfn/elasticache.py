"""ElastiCache: ``SubnetGroup`` and ``ReplicationGroup`` (e.g. Prefect's Redis), missing in moto's
CloudFormation."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.elasticache.models import ElastiCacheBackend, elasticache_backends
from moto.elasticache.models import ReplicationGroup as MotoReplicationGroup

from emulator.cfn._base import (
    Resource,
    ResourceError,
    as_bool,
    as_int,
    physical_name,
    properties_of,
    tag_list,
)


def _backend(account_id: str, region_name: str) -> ElastiCacheBackend:
    return elasticache_backends[account_id][region_name]


class SubnetGroup(Resource, CloudFormationModel):
    """``AWS::ElastiCache::SubnetGroup``; Ref gives the (lower-case) name."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "CacheSubnetGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::SubnetGroup"

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
    ) -> SubnetGroup:
        props = properties_of(cloudformation_json)
        name = physical_name(str(props.get("CacheSubnetGroupName") or resource_name), 255)
        _backend(account_id, region_name).create_cache_subnet_group(
            cache_subnet_group_name=name,
            cache_subnet_group_description=str(props.get("Description") or ""),
            subnet_ids=[str(s) for s in props.get("SubnetIds") or []],
            tags=tag_list(props.get("Tags")) or None,
        )
        return cls(name, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        group = _backend(self.account_id, self.region_name).cache_subnet_groups[self.physical_id]
        group.cache_subnet_group_description = str(properties.get("Description") or "")
        group.subnet_ids = [str(s) for s in properties.get("SubnetIds") or []]
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        """moto has no DeleteCacheSubnetGroup, so the group is removed from its store directly."""
        backend = _backend(self.account_id, self.region_name)
        backend.cache_subnet_groups.pop(self.physical_id, None)


_REPLACEMENT = (
    "ReplicationGroupId",
    "Engine",
    "CacheSubnetGroupName",
    "Port",
    "AtRestEncryptionEnabled",
    "TransitEncryptionEnabled",
    "KmsKeyId",
    "NumNodeGroups",
)


class ReplicationGroup(Resource, CloudFormationModel):
    """``AWS::ElastiCache::ReplicationGroup`` on moto's ElastiCache backend; Ref gives its id, and
    ``PrimaryEndPoint.*``, ``ReaderEndPoint.*`` and ``ConfigurationEndPoint.*`` its endpoints."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ReplicationGroupId"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::ReplicationGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        endpoints = ("PrimaryEndPoint", "ReaderEndPoint", "ConfigurationEndPoint", "ReadEndPoint")
        return attr.split(".")[0] in endpoints

    @property
    def group(self) -> MotoReplicationGroup:
        return _backend(self.account_id, self.region_name).replication_groups[self.physical_id]

    def attributes(self) -> dict[str, Any]:
        group = self.group
        port = str(group.port)
        node_group = group.node_groups[0] if group.node_groups else {}
        primary = node_group.get("primary_endpoint_address") or f"{self.physical_id}.cache.amazonaws.com"
        reader = node_group.get("reader_endpoint_address") or primary
        configuration = getattr(group, "configuration_endpoint", None) or {"address": primary}
        return {
            "PrimaryEndPoint.Address": primary,
            "PrimaryEndPoint.Port": port,
            "ReaderEndPoint.Address": reader,
            "ReaderEndPoint.Port": port,
            "ConfigurationEndPoint.Address": configuration["address"],
            "ConfigurationEndPoint.Port": port,
            "ReadEndPoint.Addresses": reader,
            "ReadEndPoint.Ports": port,
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ReplicationGroup:
        props = properties_of(cloudformation_json)
        identifier = physical_name(str(props.get("ReplicationGroupId") or resource_name), 40)
        if not props.get("ReplicationGroupDescription"):
            raise ResourceError("ReplicationGroup needs ReplicationGroupDescription")
        _backend(account_id, region_name).create_replication_group(
            replication_group_id=identifier,
            replication_group_description=str(props["ReplicationGroupDescription"]),
            global_replication_group_id=props.get("GlobalReplicationGroupId"),  # type: ignore[arg-type]
            primary_cluster_id=props.get("PrimaryClusterId"),  # type: ignore[arg-type]
            automatic_failover_enabled=as_bool(props.get("AutomaticFailoverEnabled")),
            multi_az_enabled=as_bool(props.get("MultiAZEnabled")),
            num_cache_clusters=as_int(props.get("NumCacheClusters"), 1) or 1,
            preferred_cache_cluster_azs=list(props.get("PreferredCacheClusterAZs") or []),
            num_node_groups=as_int(props.get("NumNodeGroups"), 1) or 1,
            replicas_per_node_group=as_int(props.get("ReplicasPerNodeGroup"), 0) or 0,
            node_group_configuration=list(props.get("NodeGroupConfiguration") or []),
            cache_node_type=str(props.get("CacheNodeType") or "cache.t4g.micro"),
            engine=str(props.get("Engine") or "redis"),
            engine_version=str(props.get("EngineVersion") or "7.1"),
            cache_parameter_group_name=props.get("CacheParameterGroupName"),  # type: ignore[arg-type]
            cache_subnet_group_name=props.get("CacheSubnetGroupName"),  # type: ignore[arg-type]
            cache_security_group_names=list(props.get("CacheSecurityGroupNames") or []),
            security_group_ids=[str(s) for s in props.get("SecurityGroupIds") or []],
            tags=tag_list(props.get("Tags")),
            snapshot_arns=list(props.get("SnapshotArns") or []),
            snapshot_name=props.get("SnapshotName"),  # type: ignore[arg-type]
            preferred_maintenance_window=props.get("PreferredMaintenanceWindow"),  # type: ignore[arg-type]
            port=as_int(props.get("Port"), 6379) or 6379,
            notification_topic_arn=props.get("NotificationTopicArn"),  # type: ignore[arg-type]
            auto_minor_version_upgrade=as_bool(props.get("AutoMinorVersionUpgrade"), True),
            snapshot_retention_limit=as_int(props.get("SnapshotRetentionLimit"), 0) or 0,
            snapshot_window=props.get("SnapshotWindow"),  # type: ignore[arg-type]
            auth_token=props.get("AuthToken"),  # type: ignore[arg-type]
            transit_encryption_enabled=as_bool(props.get("TransitEncryptionEnabled")),
            at_rest_encryption_enabled=as_bool(props.get("AtRestEncryptionEnabled")),
            kms_key_id=props.get("KmsKeyId"),  # type: ignore[arg-type]
            user_group_ids=list(props.get("UserGroupIds") or []),
            log_delivery_configurations=list(props.get("LogDeliveryConfigurations") or []),
            data_tiering_enabled=as_bool(props.get("DataTieringEnabled")),
            network_type=props.get("NetworkType"),  # type: ignore[arg-type]
            ip_discovery=props.get("IpDiscovery"),  # type: ignore[arg-type]
            transit_encryption_mode=props.get("TransitEncryptionMode"),  # type: ignore[arg-type]
            cluster_mode=props.get("ClusterMode"),  # type: ignore[arg-type]
            serverless_cache_snapshot_name=None,  # type: ignore[arg-type]
        )
        return cls(identifier, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if any(properties.get(k) != self.properties.get(k) for k in _REPLACEMENT):
            replacement = ReplicationGroup.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        _backend(self.account_id, self.region_name).modify_replication_group(
            replication_group_id=self.physical_id,
            replication_group_description=str(properties.get("ReplicationGroupDescription")),
            engine=None,  # type: ignore[arg-type]
            cache_node_type=properties.get("CacheNodeType"),  # type: ignore[arg-type]
            automatic_failover_enabled=as_bool(properties.get("AutomaticFailoverEnabled")),
            multi_az_enabled=as_bool(properties.get("MultiAZEnabled")),
            snapshot_retention_limit=as_int(properties.get("SnapshotRetentionLimit"), 0) or 0,
        )
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        """moto only marks a deleted group as ``deleting``; CloudFormation waits until it is gone."""
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.replication_groups:
            backend.delete_replication_group(self.physical_id, retain_primary_cluster=False)
            backend.replication_groups.pop(self.physical_id, None)
