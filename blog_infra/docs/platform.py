"""The platform as the docs see it: the synthesized root stack of one environment, its template, who owns
each resource, and what each workload reaches, read from the template itself.

A workload (an ECS service, the ork processor, the flow runs, the frontend) depends on what its task
definition or function refers to, on what the IAM policies of its roles name, and on what its security
groups may connect to. So the catalog's `dependsOn` and the diagram's arrows follow the grants and
network rules the stack really creates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct

from infra.app import build_app
from infra.config import EnvConfig, load_config
from infra.ownership import NOT_OWNED, Ownership, Repository, resource_ownerships
from infra.stack import PlatformStack

DOCS_ENV = "prod"
"""The environment the reference docs describe."""

_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")
_NAME_PROPERTIES = ("BucketName", "Name", "RoleName", "FunctionName", "QueueName", "RepositoryName")


class Kind(StrEnum):
    """What an element of the platform is."""

    SERVICE = "service"
    FUNCTION = "function"
    FLOWS = "flows"
    WEBSITE = "website"
    DATABASE = "database"
    BROKER = "message-broker"
    BUCKET = "s3-bucket"
    SECRET = "secret"
    QUEUE = "queue"
    REGISTRY = "container-registry"
    CLUSTER = "ecs-cluster"
    NETWORK = "network"
    LOAD_BALANCER = "load-balancer"
    CDN = "cdn"


WORKLOADS = frozenset({Kind.SERVICE, Kind.FUNCTION, Kind.FLOWS, Kind.WEBSITE})


@dataclass(frozen=True)
class Element:
    """A piece of the platform that the catalog and the diagram show."""

    key: str
    """Catalog entity name, e.g. `portal`."""
    title: str
    kind: Kind
    description: str
    logical_id: str | None
    """The resource in the template; None for workloads that are not one resource (the flow runs)."""
    owner: Ownership
    roles: tuple[str, ...] = ()
    """Logical ids of the IAM roles the workload runs with."""
    security_groups: tuple[str, ...] = ()
    """Logical ids of the security groups the workload's network interfaces are in."""
    repository: Repository | None = None
    """Sibling repository that owns the code it runs."""


def references(value: Any) -> set[str]:
    """Logical ids `value` refers to through `Ref`, `Fn::GetAtt` and `Fn::Sub`."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and not inner.startswith("AWS::"):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(m for m in _SUB_REFERENCE.findall(str(text)) if not m.startswith("AWS"))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= references(inner[1])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


@dataclass
class Platform:
    """The synthesized root stack of `config` and what the docs read from it."""

    config: EnvConfig
    stack: PlatformStack
    template: dict[str, Any]
    owners: dict[str, Ownership]
    """Every resource's ownership, by logical id."""
    elements: dict[str, Element] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def properties(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return properties

    def of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == resource_type:
                yield logical_id, resource.get("Properties", {})

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of an L1 resource, or of an L2 construct's default resource."""
        resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
        if not isinstance(resource, CfnResource):
            raise TypeError(f"{construct.node.path} is not a CloudFormation resource")
        return str(self.stack.resolve(resource.logical_id))

    def physical_name(self, logical_id: str) -> str | None:
        """The resource's name when the template sets it to a literal."""
        properties = self.properties(logical_id)
        for name in _NAME_PROPERTIES:
            if isinstance(properties.get(name), str):
                return str(properties[name])
        return None

    def ssm_parameters(self, logical_id: str) -> list[str]:
        """Names of the contract's SSM parameters whose value comes from the resource."""
        return sorted(
            str(properties["Name"])
            for _, properties in self.of_type("AWS::SSM::Parameter")
            if logical_id in references(properties.get("Value"))
        )

    def _policies_of(self, roles: Iterable[str]) -> set[str]:
        roles = set(roles)
        granted: set[str] = set()
        for _, properties in self.of_type("AWS::IAM::Policy"):
            if references(properties.get("Roles")) & roles:
                granted |= references(properties.get("PolicyDocument"))
        for role in roles:
            if role in self.resources:
                for policy in self.properties(role).get("Policies", []):
                    granted |= references(policy.get("PolicyDocument"))
        return granted

    def _reachable_security_groups(self, sources: Iterable[str]) -> set[str]:
        sources = set(sources)
        reached: set[str] = set()
        for _, properties in self.of_type("AWS::EC2::SecurityGroupIngress"):
            if references(properties.get("SourceSecurityGroupId")) & sources:
                reached |= references(properties.get("GroupId"))
        for logical_id, properties in self.of_type("AWS::EC2::SecurityGroup"):
            for rule in properties.get("SecurityGroupIngress", []):
                if references(rule.get("SourceSecurityGroupId")) & sources:
                    reached.add(logical_id)
        return reached

    def _security_groups_of(self, logical_id: str) -> set[str]:
        properties = self.properties(logical_id)
        groups: set[str] = set()
        for name in ("VpcSecurityGroupIds", "SecurityGroupIds", "SecurityGroups"):
            groups |= references(properties.get(name))
        return groups

    def _direct(self, element: Element) -> set[str]:
        if element.logical_id is None:
            return set()
        properties = self.properties(element.logical_id)
        found = references(properties)
        task_definition = references(properties.get("TaskDefinition"))
        for definition in task_definition:
            found |= references(self.properties(definition).get("ContainerDefinitions"))
        for resource in self.resources.values():
            if resource["Type"] in ("AWS::Lambda::EventInvokeConfig", "Custom::S3BucketNotifications") and (
                element.logical_id in references(resource.get("Properties"))
            ):
                found |= references(resource.get("Properties"))
        return found

    def reaches(self, element: Element) -> set[str]:
        """Logical ids the workload refers to, is granted access to, or may connect to."""
        found = self._direct(element) | self._policies_of(element.roles)
        reachable = self._reachable_security_groups(element.security_groups)
        for logical_id in self.resources:
            if self._security_groups_of(logical_id) & reachable:
                found.add(logical_id)
        found.discard(element.logical_id or "")
        return found

    def depends_on(self, element: Element) -> list[Element]:
        """The platform's elements the workload reaches, in the order they were added."""
        reached = self.reaches(element)
        return [
            other
            for other in self.elements.values()
            if other.logical_id in reached and other.kind not in WORKLOADS
        ]

    def resource_dependencies(self, element: Element, depth: int = 4) -> list[Element]:
        """Elements a resource refers to, directly or through resources that are not elements (a
        subnet group, a subnet, a VPC origin)."""
        by_logical_id = {e.logical_id: e for e in self.elements.values() if e.logical_id}
        found: set[str] = set()
        frontier = {element.logical_id} if element.logical_id else set()
        seen = set(frontier)
        for _ in range(depth):
            following: set[str] = set()
            for logical_id in frontier:
                for target in references(self.properties(logical_id)) - seen:
                    if target not in self.resources:
                        continue
                    seen.add(target)
                    if target in by_logical_id:
                        found.add(target)
                    else:
                        following.add(target)
            frontier = following
        return [e for e in self.elements.values() if e.logical_id in found]

    def connects_to(self, element: Element) -> list[Element]:
        """The workloads whose security groups admit connections from `element`'s."""
        reachable = self._reachable_security_groups(element.security_groups)
        return [
            other
            for other in self.elements.values()
            if other is not element and other.kind in WORKLOADS and set(other.security_groups) & reachable
        ]

    def routes(self) -> dict[str, list[str]]:
        """Host names the load balancer routes to each target group, by target group logical id."""
        routes: dict[str, list[str]] = {}
        for _, properties in self.of_type("AWS::ElasticLoadBalancingV2::ListenerRule"):
            hosts = [
                host
                for condition in properties.get("Conditions", [])
                if condition.get("Field") == "host-header"
                for host in condition.get("HostHeaderConfig", {}).get("Values", [])
            ]
            for action in properties.get("Actions", []):
                for target_group in references(action.get("TargetGroupArn")):
                    routes.setdefault(target_group, []).extend(hosts)
        return routes

    def routed_hosts(self, element: Element) -> list[str]:
        """Host names routed to the service's target groups."""
        if element.logical_id is None:
            return []
        routes = self.routes()
        load_balancers = self.properties(element.logical_id).get("LoadBalancers", [])
        return [
            host
            for entry in load_balancers
            for target_group in references(entry.get("TargetGroupArn"))
            for host in routes.get(target_group, [])
        ]

    def security_groups(self, logical_id: str) -> tuple[str, ...]:
        """Security groups of an ECS service's tasks."""
        configuration = self.properties(logical_id).get("NetworkConfiguration", {})
        groups = configuration.get("AwsvpcConfiguration", {}).get("SecurityGroups", [])
        return tuple(sorted(references(groups)))

    def task_roles(self, logical_id: str) -> tuple[str, ...]:
        """The task and execution roles of an ECS service's task definition."""
        roles: set[str] = set()
        for definition in references(self.properties(logical_id).get("TaskDefinition")):
            properties = self.properties(definition)
            roles |= references(properties.get("TaskRoleArn")) | references(
                properties.get("ExecutionRoleArn")
            )
        return tuple(sorted(roles))

    def add(self, element: Element) -> Element:
        if element.key in self.elements:
            raise ValueError(f"element {element.key!r} added twice")
        self.elements[element.key] = element
        return element

    def element(self, key: str) -> Element:
        return self.elements[key]


def _add_service(
    platform: Platform,
    key: str,
    title: str,
    service: IConstruct | None,
    description: str,
    repository: Repository | None = None,
) -> None:
    """Add the service; None is a service the environment's topology leaves out (embedded in another)."""
    if service is None:
        return
    logical_id = platform.logical_id(service)
    platform.add(
        Element(
            key=key,
            title=title,
            kind=Kind.SERVICE,
            description=description,
            logical_id=logical_id,
            owner=platform.owners[logical_id],
            roles=platform.task_roles(logical_id),
            security_groups=platform.security_groups(logical_id),
            repository=repository,
        )
    )


def _add_resource(
    platform: Platform, key: str, title: str, kind: Kind, construct: IConstruct | None, text: str
) -> None:
    """Add the resource; None is one the environment's topology leaves out (Redis when embedded)."""
    if construct is None:
        return
    logical_id = platform.logical_id(construct)
    platform.add(Element(key, title, kind, text, logical_id, platform.owners[logical_id]))


def _elements(platform: Platform) -> None:
    """The platform's workloads and resources, from the root stack's modules."""
    stack = platform.stack
    not_owned = {o.component: o for o in NOT_OWNED}
    _add_service(
        platform,
        "portal",
        "Backstage portal",
        stack.backstage.service,
        "Backstage at the portal hostname; the image is built and pushed by blog_portal.",
        Repository.BLOG_PORTAL,
    )
    _add_service(
        platform,
        "pipelines-api",
        "Prefect API and UI",
        stack.prefect.api_service,
        "Self-hosted Prefect 3 API and UI at the pipelines hostname.",
    )
    _add_service(
        platform,
        "prefect-background-services",
        "Prefect background services",
        stack.prefect.services_service,
        "Prefect 3 background services (scheduler, late runs, automations); migrates the database.",
    )
    _add_service(
        platform,
        "prefect-worker",
        "Prefect ECS worker",
        stack.prefect.worker_service,
        "Polls the ECS work pool and starts each flow run as a Fargate task on the shared cluster.",
    )
    function = platform.logical_id(stack.ork_processor.fn)
    platform.add(
        Element(
            key="ork-processor",
            title="Lambda ork processor",
            kind=Kind.FUNCTION,
            description="Processes OpenRocket design files (*.ork) as they are uploaded to the design-files "
            "bucket; its code is published by blog_data.",
            logical_id=function,
            owner=platform.owners[function],
            roles=tuple(sorted(references(platform.properties(function).get("Role")))),
            repository=Repository.BLOG_DATA,
        )
    )
    roles = stack.runtime_roles
    platform.add(
        Element(
            key="prefect-flows",
            title="Prefect flows (blog_data)",
            kind=Kind.FLOWS,
            description="blog_data's flows, run by the Prefect worker as Fargate tasks with the flow-run "
            "roles.",
            logical_id=None,
            owner=not_owned["prefect-flows"],
            roles=(platform.logical_id(roles.flow_run_task), platform.logical_id(roles.flow_run_execution)),
            security_groups=(platform.logical_id(stack.prefect.flow_run_security_group),),
            repository=Repository.BLOG_DATA,
        )
    )
    platform.add(
        Element(
            key="blog-frontend",
            title="Public blog frontend (blog_code)",
            kind=Kind.WEBSITE,
            description="The Next.js public blog on Vercel; reads AWS through the read-only frontend role.",
            logical_id=None,
            owner=not_owned["blog-frontend"],
            roles=(platform.logical_id(stack.ci.frontend_role),),
            repository=Repository.BLOG_CODE,
        )
    )
    _add_resource(
        platform,
        "aurora",
        "Aurora PostgreSQL",
        Kind.DATABASE,
        stack.database.cluster,
        "Aurora PostgreSQL Serverless v2: one database and login per consumer.",
    )
    _add_resource(
        platform,
        "prefect-redis",
        "Prefect message broker (Redis)",
        Kind.BROKER,
        stack.prefect.redis,
        "ElastiCache Redis: Prefect's messaging and cache.",
    )
    for purpose, bucket in stack.data.buckets.items():
        _add_resource(
            platform,
            f"bucket-{purpose.value}",
            f"{purpose.value} bucket",
            Kind.BUCKET,
            bucket,
            f"The {purpose.value} data bucket.",
        )
    _add_resource(
        platform,
        "ork-processor-failure-queue",
        "Ork processor failure queue",
        Kind.QUEUE,
        stack.ork_processor.failure_queue,
        "Events the ork processor failed to process, after retries.",
    )
    secrets: list[tuple[str, str, IConstruct | None]] = [
        (f"database-secret-{name}", f"{name} database login", secret)
        for name, secret in stack.database.consumer_secrets.items()
    ]
    secrets += [
        ("neo4j-aura-secret", "Neo4j Aura connection", stack.secrets.neo4j_aura),
        ("cloudinary-secret", "Cloudinary credentials", stack.secrets.cloudinary),
        ("backstage-app-secret", "Backstage app secret", stack.backstage.app_secret),
        ("prefect-auth-secret", "Prefect API auth string", stack.prefect.auth_secret),
        ("prefect-redis-auth-secret", "Prefect Redis auth token", stack.prefect.redis_auth_secret),
    ]
    for key, title, secret in secrets:
        _add_resource(platform, key, title, Kind.SECRET, secret, f"Secrets Manager secret: {title}.")
    _add_resource(
        platform,
        "backstage-image-repository",
        "Backstage image repository",
        Kind.REGISTRY,
        stack.backstage.repository,
        "ECR repository blog_portal pushes the portal image to.",
    )
    _add_resource(
        platform,
        "ecs-cluster",
        "ECS cluster",
        Kind.CLUSTER,
        stack.compute.cluster,
        "Fargate cluster of the services and the flow runs.",
    )
    _add_resource(
        platform, "vpc", "VPC", Kind.NETWORK, stack.network.vpc, "The VPC every AWS service runs in."
    )
    _add_resource(
        platform,
        "load-balancer",
        "Application Load Balancer",
        Kind.LOAD_BALANCER,
        stack.edge.load_balancer,
        "Internal ALB; routes each hostname to its ECS service.",
    )
    _add_resource(
        platform,
        "cloudfront",
        "CloudFront distribution",
        Kind.CDN,
        stack.edge.distribution,
        "CloudFront in front of the internal ALB (a VPC origin); Cloudflare proxies to it.",
    )


def synthesize(env: str = DOCS_ENV) -> Platform:
    """Synthesize the root stack of `env` in-process (no gates) and read it."""
    config = load_config(env)
    app, stack = build_app(config)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    platform = Platform(config=config, stack=stack, template=template, owners=resource_ownerships(stack))
    _elements(platform)
    return platform
