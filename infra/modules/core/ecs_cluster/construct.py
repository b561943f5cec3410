"""The ECS cluster the platform's services and Prefect flow runs share."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct


@dataclass(frozen=True, kw_only=True)
class EcsClusterProps:
    """Inputs of the ECS cluster module."""

    vpc: ec2.IVpc
    """VPC of the cluster."""
    namespace: str
    """Private DNS namespace for service discovery, e.g. `blog-prod.internal`."""
    spot: bool = True
    """Register the FARGATE_SPOT capacity provider (flow runs may use it)."""


class EcsCluster(Construct):
    """Fargate cluster with Container Insights and a private Cloud Map namespace."""

    def __init__(self, scope: Construct, id: str, *, props: EcsClusterProps) -> None:
        super().__init__(scope, id)
        if not props.namespace or props.namespace.startswith("."):
            raise ValueError("EcsCluster namespace must be a DNS name such as blog-prod.internal")
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=props.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            enable_fargate_capacity_providers=props.spot,
        )
        self.namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=props.namespace, vpc=props.vpc, description="Blog platform services"
        )
