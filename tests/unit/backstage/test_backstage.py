"""apps/backstage: the portal's repository, secret and hardened Fargate service."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from infra.modules.apps.backstage import construct as portal
from infra.modules.apps.backstage.construct import Backstage, BackstageProps
from infra.modules.core.ecs_cluster.construct import EcsCluster, EcsClusterProps
from infra.modules.core.network.construct import Network, NetworkProps
from tests.unit.helpers import new_stack

_ids = itertools.count()
SECRET_LOOKING = ("PASSWORD", "SECRET", "TOKEN", "AUTH_STRING", "CONNECTION_URL")


@dataclass
class Deps:
    stack: Stack
    network: Network
    cluster: EcsCluster
    role: iam.Role
    database_secret: secretsmanager.Secret


def new_deps() -> Deps:
    stack = new_stack()
    network = Network(stack, "Network", props=NetworkProps(zone_ids=("use1-az1", "use1-az2")))
    cluster = EcsCluster(stack, "Ecs", props=EcsClusterProps(vpc=network.vpc, namespace="blog-test.internal"))
    role = iam.Role(stack, "PortalRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    database_secret = secretsmanager.Secret(stack, "PortalDatabase")
    return Deps(stack, network, cluster, role, database_secret)


def props(deps: Deps, **overrides: Any) -> BackstageProps:
    values: dict[str, Any] = {
        "vpc": deps.network.vpc,
        "subnets": deps.network.application_subnets,
        "cluster": deps.cluster.cluster,
        "task_role": deps.role,
        "image_tag": "1.4.2",
        "base_url": "https://portal.rocketclub.online",
        "database_secret": deps.database_secret,
        "secret_name_prefix": "blog/test/apps",
    } | overrides
    return BackstageProps(**values)


@pytest.fixture(scope="module")
def built() -> tuple[Template, Backstage]:
    deps = new_deps()
    backstage = Backstage(deps.stack, "Backstage", props=props(deps, min_capacity=1, max_capacity=3))
    return Template.from_stack(deps.stack), backstage


@pytest.fixture(scope="module")
def template(built: tuple[Template, Backstage]) -> Template:
    return built[0]


@pytest.fixture(scope="module")
def container(template: Template) -> dict[str, Any]:
    definitions = template.find_resources("AWS::ECS::TaskDefinition")
    assert len(definitions) == 1
    containers = next(iter(definitions.values()))["Properties"]["ContainerDefinitions"]
    assert [c["Name"] for c in containers] == ["backstage"]
    return containers[0]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def validation_deps() -> Deps:
    return new_deps()


def secret_source(value_from: Any) -> tuple[str, str]:
    """(logical id of the secret, JSON key) of an ECS secret's ValueFrom."""
    ref, suffix = value_from["Fn::Join"][1]
    return ref["Ref"], suffix.strip(":")


def test_repository_scans_on_push_with_immutable_encrypted_tags(template: Template) -> None:
    repository = template.find_resources("AWS::ECR::Repository")["BackstageRepository"]
    assert repository["DeletionPolicy"] == "RetainExceptOnCreate"
    assert repository["UpdateReplacePolicy"] == "Retain"
    properties = repository["Properties"]
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["ImageTagMutability"] == "IMMUTABLE"
    assert properties["EncryptionConfiguration"] == {"EncryptionType": "KMS"}
    assert properties["EmptyOnDelete"] is False


def test_repository_lifecycle_expires_untagged_and_keeps_the_last_images(template: Template) -> None:
    repository = template.find_resources("AWS::ECR::Repository")["BackstageRepository"]
    rules = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countNumber": 7,
        "countUnit": "days",
    }
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}
    assert all(rule["action"] == {"type": "expire"} for rule in rules)


def test_image_comes_from_the_repository_at_the_pinned_tag(container: dict[str, Any]) -> None:
    parts = container["Image"]["Fn::Join"][1]
    assert {"Ref": "BackstageRepository"} in parts
    assert parts[-1] == ":1.4.2"


def test_repository_uri_is_exposed(built: tuple[Template, Backstage]) -> None:
    backstage = built[1]
    assert Stack.of(backstage).resolve(backstage.repository_uri)["Fn::Join"][1][-1] == {
        "Ref": "BackstageRepository"
    }
    assert backstage.port == 7007


def test_app_secret_is_a_retained_placeholder_with_a_generated_backend_secret(template: Template) -> None:
    secret = template.find_resources("AWS::SecretsManager::Secret")["BackstageAppSecret"]
    assert secret["DeletionPolicy"] == "RetainExceptOnCreate"
    properties = secret["Properties"]
    assert properties["Name"] == "blog/test/apps/backstage"
    assert "SecretString" not in properties
    generated = properties["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "backend_secret"
    assert json.loads(generated["SecretStringTemplate"]) == {
        "github_token": "",
        "auth_github_client_id": "",
        "auth_github_client_secret": "",
        "placeholder": "true",
    }


def test_container_runs_non_root_on_a_read_only_root_with_a_tmpfs_scratch(container: dict[str, Any]) -> None:
    assert container["User"] == "1000:1000"
    assert container["ReadonlyRootFilesystem"] is True
    linux = container["LinuxParameters"]
    assert linux["Tmpfs"] == [
        {"ContainerPath": "/tmp", "Size": 512, "MountOptions": ["rw", "nosuid", "nodev", "noexec"]}
    ]
    assert linux["Capabilities"] == {"Drop": ["ALL"]}
    assert linux["InitProcessEnabled"] is True


def test_container_listens_on_7007(container: dict[str, Any]) -> None:
    assert container["PortMappings"] == [{"ContainerPort": 7007, "Name": "http", "Protocol": "tcp"}]


def test_environment_sets_urls_production_and_verified_database_tls(container: dict[str, Any]) -> None:
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment == {
        "NODE_ENV": "production",
        "APP_CONFIG_app_baseUrl": "https://portal.rocketclub.online",
        "APP_CONFIG_backend_baseUrl": "https://portal.rocketclub.online",
        "APP_CONFIG_backend_database_connection_ssl_rejectUnauthorized": "true",
        "PGSSLMODE": "verify-full",
        "NODE_EXTRA_CA_CERTS": "/app/rds-global-bundle.pem",
    }


def test_no_secret_looking_variable_is_plain_environment(container: dict[str, Any]) -> None:
    names = [item["Name"] for item in container["Environment"]]
    assert not [name for name in names if any(marker in name.upper() for marker in SECRET_LOOKING)]


def test_secrets_come_from_the_right_json_keys(template: Template, container: dict[str, Any]) -> None:
    database = next(
        name for name in template.find_resources("AWS::SecretsManager::Secret") if "PortalDatabase" in name
    )
    secrets = {item["Name"]: secret_source(item["ValueFrom"]) for item in container["Secrets"]}
    # THEN by default only the app secret's generated key reaches the container: its GitHub keys start
    # empty, and an empty variable stops Backstage
    assert secrets == {
        "POSTGRES_HOST": (database, "host"),
        "POSTGRES_PORT": (database, "port"),
        "POSTGRES_USER": (database, "username"),
        "POSTGRES_PASSWORD": (database, "password"),
        "POSTGRES_DB": (database, "dbname"),
        "BACKEND_SECRET": ("BackstageAppSecret", "backend_secret"),
    }


def test_by_default_the_task_runs_the_standard_command_without_the_github_file(
    container: dict[str, Any],
) -> None:
    # THEN a first deploy (github_secrets off) starts the standard image's command: the base files only,
    # so the auth backend has no GitHub provider to configure and no value to miss
    assert container["Command"] == [
        "node",
        "packages/backend",
        "--config",
        "app-config.yaml",
        "--config",
        "app-config.production.yaml",
    ]
    assert "EntryPoint" not in container


def test_the_github_file_holds_all_of_github_and_substitutes_exactly_the_github_variables() -> None:
    # THEN nothing of GitHub's is asked of the base files, which are loaded in every state
    assert [
        key
        for key, _, _ in portal.IMAGE_CONFIG
        if key.startswith(("auth.providers.github", "integrations.github"))
    ] == []
    # AND the GitHub file uses exactly the variables the task gives once github_secrets is on
    substituted = {
        match for _, value, _ in portal.GITHUB_CONFIG for match in re.findall(r"\$\{([A-Z_]+)\}", value)
    }
    assert (
        substituted
        == set(portal.GITHUB_SECRETS)
        == {
            "GITHUB_TOKEN",
            "AUTH_GITHUB_CLIENT_ID",
            "AUTH_GITHUB_CLIENT_SECRET",
        }
    )
    assert portal.GITHUB_CONFIG_FILE not in portal.BASE_CONFIG_FILES


def test_github_secrets_reach_the_container_once_turned_on() -> None:
    # GIVEN the GitHub values set in the app secret and the portal told so
    deps = new_deps()
    Backstage(deps.stack, "Backstage", props=props(deps, github_secrets=True))
    [definition] = Template.from_stack(deps.stack).find_resources("AWS::ECS::TaskDefinition").values()
    [container] = definition["Properties"]["ContainerDefinitions"]
    secrets = {item["Name"]: secret_source(item["ValueFrom"]) for item in container["Secrets"]}
    # THEN the task loads the image's GitHub file after its base files, so its keys are the ones used
    assert container["Command"] == [
        "node",
        "packages/backend",
        "--config",
        "app-config.yaml",
        "--config",
        "app-config.production.yaml",
        "--config",
        "app-config.github.yaml",
    ]
    # AND the container receives the values the file substitutes
    assert {
        name: secrets[name] for name in ("GITHUB_TOKEN", "AUTH_GITHUB_CLIENT_ID", "AUTH_GITHUB_CLIENT_SECRET")
    } == {
        "GITHUB_TOKEN": ("BackstageAppSecret", "github_token"),
        "AUTH_GITHUB_CLIENT_ID": ("BackstageAppSecret", "auth_github_client_id"),
        "AUTH_GITHUB_CLIENT_SECRET": ("BackstageAppSecret", "auth_github_client_secret"),
    }
    assert secrets["BACKEND_SECRET"] == ("BackstageAppSecret", "backend_secret")


def test_execution_role_may_read_the_app_secret(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                            "Effect": "Allow",
                            "Resource": Match.array_with([{"Ref": "BackstageAppSecret"}]),
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("BackstageTaskDefinitionExecutionRole")}],
        },
    )


def test_container_health_check_probes_readiness_with_node(container: dict[str, Any]) -> None:
    check = container["HealthCheck"]
    assert check["Command"][:3] == ["CMD", "node", "-e"]
    # THEN it asks readiness: a backend whose start failed still answers liveness 200
    assert "http://localhost:7007/.backstage/health/v1/readiness" in check["Command"][3]
    assert "liveness" not in check["Command"][3]
    assert check["StartPeriod"] >= 60


def test_target_group_checks_readiness_of_task_ips(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "TargetType": "ip",
            "Protocol": "HTTP",
            "Port": 7007,
            "HealthCheckPath": "/.backstage/health/v1/readiness",
            "Matcher": {"HttpCode": "200"},
            "TargetGroupAttributes": Match.array_with(
                [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]
            ),
        },
    )


def test_service_is_private_rolls_back_and_keeps_capacity(template: Template) -> None:
    services = template.find_resources("AWS::ECS::Service")
    assert len(services) == 1
    service = next(iter(services.values()))["Properties"]
    assert service["LaunchType"] == "FARGATE"
    assert service["PlatformVersion"] == "LATEST"
    assert service["EnableExecuteCommand"] is False
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 200
    assert service["HealthCheckGracePeriodSeconds"] >= 180
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert all("application" in subnet["Ref"] for subnet in network["Subnets"])
    [target] = service["LoadBalancers"]
    assert (target["ContainerName"], target["ContainerPort"]) == ("backstage", 7007)
    assert target["TargetGroupArn"]["Ref"].startswith("BackstageTargetGroup")


def test_service_has_its_own_security_group_without_ingress(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"GroupDescription": "Backstage portal tasks", "SecurityGroupIngress": Match.absent()},
    )


def test_service_scales_on_cpu_between_bounds(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 1, "MaxCapacity": 3, "ScalableDimension": "ecs:service:DesiredCount"},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "TargetValue": 70,
                }
            ),
        },
    )


def test_logs_are_retained_with_retention(template: Template, container: dict[str, Any]) -> None:
    group = template.find_resources("AWS::Logs::LogGroup")["BackstageLogs"]
    assert group["DeletionPolicy"] == "RetainExceptOnCreate"
    assert group["Properties"]["RetentionInDays"] == 90
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "BackstageLogs"}
    assert container["LogConfiguration"]["Options"]["mode"] == "non-blocking"


def test_task_size_and_platform(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": "1024",
            "Memory": "2048",
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
            "TaskRoleArn": {"Fn::GetAtt": [Match.string_like_regexp("PortalRole"), "Arn"]},
        },
    )


@pytest.fixture(scope="module")
def spot_arm() -> Template:
    # GIVEN the portal on Graviton and Fargate Spot (an image blog_portal builds for arm64)
    deps = new_deps()
    Backstage(
        deps.stack,
        "Backstage",
        props=props(deps, cpu_architecture=ecs.CpuArchitecture.ARM64, spot=True),
    )
    return Template.from_stack(deps.stack)


def test_spot_uses_the_fargate_spot_strategy_instead_of_the_launch_type(spot_arm: Template) -> None:
    [service] = spot_arm.find_resources("AWS::ECS::Service").values()
    properties = service["Properties"]
    # THEN FARGATE_SPOT alone places the tasks (the cluster registers it), and no launch type is named
    assert properties["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    assert "LaunchType" not in properties
    # AND everything else about the service is as hardened as on-demand
    assert properties["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert properties["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_arm64_sets_the_runtime_platform(spot_arm: Template) -> None:
    spot_arm.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {"RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}},
    )


def test_by_default_the_service_runs_on_demand(template: Template) -> None:
    [service] = template.find_resources("AWS::ECS::Service").values()
    assert "CapacityProviderStrategy" not in service["Properties"]


def test_latest_is_accepted_only_when_allowed(validation_deps: Deps) -> None:
    with pytest.raises(ValueError, match="'latest' is refused"):
        Backstage(validation_deps.stack, "Latest", props=props(validation_deps, image_tag="latest"))
    Backstage(
        validation_deps.stack,
        "LocalLatest",
        props=props(validation_deps, image_tag="latest", allow_latest=True),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image_tag": ""}, "is not a Docker tag"),
        ({"image_tag": "1.0 beta"}, "is not a Docker tag"),
        ({"base_url": "http://portal.rocketclub.online"}, "must be an https origin"),
        ({"base_url": "https://portal.rocketclub.online/"}, "must be an https origin"),
        ({"secret_name_prefix": "/blog/test"}, "secret_name_prefix"),
        ({"cpu": 300}, "is not a Fargate size"),
        ({"cpu": 1024, "memory_mib": 1024}, "does not fit cpu 1024"),
        ({"min_capacity": 2, "desired_count": 1}, "min_capacity <= desired_count <= max_capacity"),
        ({"desired_count": 3, "max_capacity": 2}, "min_capacity <= desired_count <= max_capacity"),
        ({"cpu_target_percent": 95}, "cpu_target_percent"),
        ({"image_retention_count": 0}, "image_retention_count"),
        ({"untagged_image_expiry": Duration.hours(12)}, "untagged_image_expiry"),
        ({"database_ca_bundle_path": "rds.pem"}, "absolute path"),
        (
            {"cpu_architecture": ecs.CpuArchitecture.of("aarch64")},
            "'aarch64' is not one Linux Fargate tasks run on",
        ),
    ],
)
def test_invalid_props_are_refused(validation_deps: Deps, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backstage(validation_deps.stack, f"Invalid{next(_ids)}", props=props(validation_deps, **overrides))


def test_the_container_has_a_hard_memory_limit_equal_to_the_task(container: dict[str, Any]) -> None:
    assert container["Memory"] == 2048


def test_secret_and_logs_use_the_given_keys() -> None:
    from aws_cdk import aws_kms as kms

    deps = new_deps()
    secrets_key, logs_key = kms.Key(deps.stack, "SecretsKey"), kms.Key(deps.stack, "LogsKey")
    Backstage(
        deps.stack,
        "Backstage",
        props=props(deps, secrets_encryption_key=secrets_key, log_encryption_key=logs_key),
    )
    template = Template.from_stack(deps.stack)
    resolve = deps.stack.resolve
    secret = template.find_resources("AWS::SecretsManager::Secret")["BackstageAppSecret"]
    assert secret["Properties"]["KmsKeyId"] == {
        "Fn::GetAtt": [resolve(secrets_key.node.default_child.logical_id), "Arn"]  # type: ignore[union-attr]
    }
    group = template.find_resources("AWS::Logs::LogGroup")["BackstageLogs"]
    assert group["Properties"]["KmsKeyId"] == {
        "Fn::GetAtt": [resolve(logs_key.node.default_child.logical_id), "Arn"]  # type: ignore[union-attr]
    }
