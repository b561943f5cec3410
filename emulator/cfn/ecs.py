"""ECS: ``Cluster``, ``Service`` and ``TaskDefinition`` keep moto's create and gain the deletion moto
lacked; ``ClusterCapacityProviderAssociations`` is added (missing in moto)."""

from __future__ import annotations

import re
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ecs.models import Cluster as MotoCluster
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from moto.ecs.models import Service as MotoService
from moto.ecs.models import TaskDefinition as MotoTaskDefinition

from emulator import shape
from emulator.cfn._base import MotoDelegate, Resource, ResourceError, properties_of

_ECR_IMAGE = re.compile(
    r"(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?"
)


def _ecs(account_id: str, region_name: str) -> EC2ContainerServiceBackend:
    return ecs_backends[account_id][region_name]


class Cluster(MotoDelegate, CloudFormationModel):
    """``AWS::ECS::Cluster``: moto's create, plus deletion (the cluster turns INACTIVE, as on AWS)."""

    MOTO_MODEL = MotoCluster

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ClusterName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::Cluster"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ecs(account_id, region_name)
        if resource.name in backend.clusters and resource.status != "INACTIVE":
            backend.delete_cluster(resource.name)


def _lower_first(data: Any) -> Any:
    """CloudFormation's PascalCase keys as the ECS API's camelCase keys, recursively."""
    if isinstance(data, dict):
        return {(k[:1].lower() + k[1:]): _lower_first(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_lower_first(v) for v in data]
    return data


def _name_of(value: Any, attribute: str) -> str:
    return str(getattr(value, attribute, value))


class Service(MotoDelegate, CloudFormationModel):
    """``AWS::ECS::Service``: created with its load balancers, launch type, network configuration
    and tags (moto's create dropped them), moto's update, plus deletion."""

    MOTO_MODEL = MotoService

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ServiceName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::Service"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = properties_of(cloudformation_json)
        desired = int(props.get("DesiredCount", 1))
        if shape.current().ecs_images_in_ecr and desired > 0 and props.get("TaskDefinition"):
            task_definition = _ecs(account_id, region_name).describe_task_definition(
                _name_of(props["TaskDefinition"], "arn")
            )
            _refuse_missing_images(task_definition, account_id)
        network = _lower_first(props.get("NetworkConfiguration"))
        if network and "awsvpcConfiguration" in network:
            network["awsvpcConfiguration"].setdefault("securityGroups", [])
        return _ecs(account_id, region_name).create_service(
            cluster_str=_name_of(props.get("Cluster") or "default", "name"),
            service_name=str(props.get("ServiceName") or resource_name),
            desired_count=desired,
            task_definition_str=_name_of(props.get("TaskDefinition"), "arn")
            if props.get("TaskDefinition")
            else None,
            load_balancers=_lower_first(list(props.get("LoadBalancers") or [])),
            scheduling_strategy=props.get("SchedulingStrategy"),
            tags=_lower_first(list(props.get("Tags") or [])),
            deployment_controller=_lower_first(props.get("DeploymentController")),
            launch_type=props.get("LaunchType"),
            service_registries=_lower_first(list(props.get("ServiceRegistries") or [])),
            platform_version=props.get("PlatformVersion"),
            propagate_tags=str(props.get("PropagateTags") or "NONE"),
            network_configuration=network,
            role_arn=props.get("Role"),
        )

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ecs(account_id, region_name)
        if f"{resource.cluster_name}:{resource.name}" in backend.services:
            backend.delete_service(resource.cluster_name, resource.name, force=True)


def _image_missing(image: str, account_id: str) -> str | None:
    """Why ECS could not pull `image` from this emulator's ECR, or None when it could."""
    from moto.ecr.models import ecr_backends

    match = _ECR_IMAGE.fullmatch(image)
    if match is None:
        return f"{image} is not in an ECR repository of the account"
    repository = ecr_backends[match["registry"]][match["region"]].repositories.get(match["repository"])
    if repository is None or match["registry"] != account_id:
        return f"repository {match['repository']} does not exist in ECR"
    tag, digest = match["tag"] or ("latest" if not match["digest"] else None), match["digest"]
    for held in repository.images:
        if (tag is not None and tag in held.image_tags) or (digest and held.image_digest == digest):
            return None
    return f"{match['repository']}:{tag or digest} not found in ECR"


def _refuse_missing_images(task_definition: Any, account_id: str) -> None:
    """The service's first tasks cannot pull an image: they stop with CannotPullContainerError and the
    deployment circuit breaker fails the deployment, so CloudFormation fails the service."""
    for container in task_definition.container_definitions:
        image = str(container.get("image") or container.get("Image") or "")
        problem = _image_missing(image, account_id)
        if problem is not None:
            raise ResourceError(
                "Error occurred during operation 'ECS Deployment Circuit Breaker was triggered': tasks "
                f"stopped with CannotPullContainerError: pull image {image}: {problem} "
                "(emulator account shape ecs_images_in_ecr)"
            )


class TaskDefinition(MotoDelegate, CloudFormationModel):
    """``AWS::ECS::TaskDefinition``: moto's create and update, plus deregistration on delete."""

    MOTO_MODEL = MotoTaskDefinition

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Family"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::TaskDefinition"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        if resource.status != "INACTIVE":
            _ecs(account_id, region_name).deregister_task_definition(resource.arn)


class ClusterCapacityProviderAssociations(Resource, CloudFormationModel):
    """``AWS::ECS::ClusterCapacityProviderAssociations`` (e.g. FARGATE and FARGATE_SPOT)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::ClusterCapacityProviderAssociations"

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
    ) -> ClusterCapacityProviderAssociations:
        props = properties_of(cloudformation_json)
        cluster = str(props.get("Cluster"))
        cls._put(cluster, props, account_id, region_name)
        return cls(cluster, account_id, region_name, props)

    @staticmethod
    def _put(cluster: str, props: dict[str, Any], account_id: str, region_name: str) -> None:
        _ecs(account_id, region_name).put_cluster_capacity_providers(
            cluster,
            [str(p) for p in props.get("CapacityProviders") or []],
            [
                {
                    "capacityProvider": s.get("CapacityProvider"),
                    "weight": s.get("Weight", 0),
                    "base": s.get("Base", 0),
                }
                for s in props.get("DefaultCapacityProviderStrategy") or []
            ],
        )

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self._put(self.physical_id, properties, self.account_id, self.region_name)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _ecs(self.account_id, self.region_name)
        if self.physical_id in backend.clusters:
            backend.put_cluster_capacity_providers(self.physical_id, [], [])
