"""apps/prefect: self-hosted Prefect 3 split into API, background services and workers."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from infra.modules.apps.prefect.construct import Prefect, PrefectProps
from infra.modules.core.ecs_cluster.construct import EcsCluster, EcsClusterProps
from infra.modules.core.network.construct import Network, NetworkProps
from tests.unit.helpers import new_stack

_ids = itertools.count()
SECRET_LOOKING = ("PASSWORD", "SECRET", "TOKEN", "AUTH_STRING", "CONNECTION_URL")
INTERNAL_API_URL = "http://prefect-api.blog-test.internal:4200/api"


@dataclass
class Deps:
    stack: Stack
    network: Network
    cluster: EcsCluster
    roles: dict[str, iam.Role]
    database_secret: secretsmanager.Secret


def new_deps() -> Deps:
    stack = new_stack()
    network = Network(stack, "Network", props=NetworkProps(availability_zones=("us-east-1a", "us-east-1b")))
    cluster = EcsCluster(stack, "Ecs", props=EcsClusterProps(vpc=network.vpc, namespace="blog-test.internal"))
    roles = {
        name: iam.Role(stack, name, assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        for name in ("ServerRole", "WorkerRole", "FlowRunRole", "FlowRunExecutionRole")
    }
    database_secret = secretsmanager.Secret(stack, "PrefectDatabase")
    return Deps(stack, network, cluster, roles, database_secret)


def props(deps: Deps, **overrides: Any) -> PrefectProps:
    values: dict[str, Any] = {
        "vpc": deps.network.vpc,
        "subnets": deps.network.application_subnets,
        "cluster": deps.cluster.cluster,
        "namespace": deps.cluster.namespace,
        "server_task_role": deps.roles["ServerRole"],
        "worker_task_role": deps.roles["WorkerRole"],
        "flow_run_task_role": deps.roles["FlowRunRole"],
        "flow_run_execution_role": deps.roles["FlowRunExecutionRole"],
        "public_url": "https://pipelines.rocketclub.online",
        "database_secret": deps.database_secret,
        "secret_name_prefix": "blog/test/apps",
    } | overrides
    return PrefectProps(**values)


@pytest.fixture(scope="module")
def built() -> tuple[Template, Prefect]:
    deps = new_deps()
    prefect = Prefect(deps.stack, "Prefect", props=props(deps, api_max_capacity=3))
    return Template.from_stack(deps.stack), prefect


@pytest.fixture(scope="module")
def template(built: tuple[Template, Prefect]) -> Template:
    return built[0]


@pytest.fixture(scope="module")
def containers(template: Template) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for definition in template.find_resources("AWS::ECS::TaskDefinition").values():
        for container in definition["Properties"]["ContainerDefinitions"]:
            found[container["Name"]] = container
    assert set(found) == {"api", "services", "worker"}
    return found


@pytest.fixture(scope="module")
def services(template: Template) -> dict[str, dict[str, Any]]:
    found = template.find_resources("AWS::ECS::Service")
    by_role: dict[str, dict[str, Any]] = {}
    for role in ("Api", "Services", "Worker"):
        [(logical, resource)] = [(k, v) for k, v in found.items() if k.startswith(f"Prefect{role}Service")]
        by_role[role] = {**resource, "LogicalId": logical}
    return by_role


@pytest.fixture(scope="module")
def validation_deps() -> Deps:
    return new_deps()


def environment(container: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container["Environment"]}


def secret_sources(container: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Variable -> (logical id of the secret, JSON key or None for the whole secret)."""
    found: dict[str, tuple[str, str | None]] = {}
    for item in container["Secrets"]:
        value_from = item["ValueFrom"]
        if "Ref" in value_from:
            found[item["Name"]] = (value_from["Ref"], None)
        else:
            ref, suffix = value_from["Fn::Join"][1]
            found[item["Name"]] = (ref["Ref"], suffix.strip(":"))
    return found


def script(container: dict[str, Any]) -> str:
    command = container["Command"]
    assert command[:2] == ["sh", "-c"]
    return command[2]  # type: ignore[no-any-return]


def database_secret_id(template: Template) -> str:
    return next(
        name for name in template.find_resources("AWS::SecretsManager::Secret") if "PrefectDatabase" in name
    )


def test_no_secret_looking_variable_is_plain_environment(containers: dict[str, dict[str, Any]]) -> None:
    for name, container in containers.items():
        plain = [
            var for var in environment(container) if any(marker in var.upper() for marker in SECRET_LOOKING)
        ]
        assert plain == [], name


def test_no_connection_url_or_docket_credentials_anywhere_in_the_template(template: Template) -> None:
    body = json.dumps(template.to_json())
    assert "CONNECTION_URL" not in body
    assert 'PREFECT_SERVER_DOCKET_URL=\\"rediss://:$PREFECT_REDIS_MESSAGING_PASSWORD@' in body


@pytest.mark.parametrize("name", ["api", "services"])
def test_server_database_login_comes_field_by_field_from_the_secret(
    template: Template, containers: dict[str, dict[str, Any]], name: str
) -> None:
    database = database_secret_id(template)
    sources = secret_sources(containers[name])
    assert {var: sources[var] for var in sources if var.startswith("PREFECT_SERVER_DATABASE_")} == {
        "PREFECT_SERVER_DATABASE_HOST": (database, "host"),
        "PREFECT_SERVER_DATABASE_PORT": (database, "port"),
        "PREFECT_SERVER_DATABASE_USER": (database, "username"),
        "PREFECT_SERVER_DATABASE_PASSWORD": (database, "password"),
        "PREFECT_SERVER_DATABASE_NAME": (database, "dbname"),
    }
    assert sources["PREFECT_REDIS_MESSAGING_PASSWORD"] == ("PrefectRedisAuthSecret", None)
    assert sources["PREFECT_API_AUTH_STRING"] == ("PrefectAuthSecret", None)


@pytest.mark.parametrize("name", ["api", "services"])
def test_server_uses_asyncpg_with_verified_tls_and_never_migrates_on_start(
    containers: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(containers[name])
    assert env["PREFECT_SERVER_DATABASE_DRIVER"] == "postgresql+asyncpg"
    assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED"] == "true"
    assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME"] == "true"
    assert (
        env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE"] == "/tmp/prefect/rds-ca-bundle.pem"
    )
    assert (
        env["DATABASE_CA_BUNDLE_URL"] == "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    )
    assert env["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "false"
    assert (
        '"$DATABASE_CA_BUNDLE_URL" "$PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE"'
        in script(containers[name])
    )


@pytest.mark.parametrize("name", ["api", "services"])
def test_server_events_and_leases_go_through_tls_redis(
    containers: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(containers[name])
    assert env["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging"
    assert env["PREFECT_MESSAGING_CACHE"] == "prefect_redis.messaging"
    assert env["PREFECT_SERVER_EVENTS_CAUSAL_ORDERING"] == "prefect_redis.ordering"
    assert env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == "prefect_redis.lease_storage"
    assert env["PREFECT_REDIS_MESSAGING_SSL"] == "true"
    assert env["PREFECT_REDIS_MESSAGING_PORT"] == "6380"
    logical, attribute = env["PREFECT_REDIS_MESSAGING_HOST"]["Fn::GetAtt"]
    assert (logical.startswith("PrefectRedis"), attribute) == (True, "PrimaryEndPoint.Address")


def test_api_serves_the_ui_and_api_without_services(containers: dict[str, dict[str, Any]]) -> None:
    api = containers["api"]
    assert script(api).endswith("&& exec prefect server start --host 0.0.0.0 --port 4200 --no-services")
    assert "database upgrade" not in script(api)
    env = environment(api)
    assert env["PREFECT_UI_API_URL"] == "https://pipelines.rocketclub.online/api"
    assert env["PREFECT_UI_URL"] == "https://pipelines.rocketclub.online"
    assert env["PREFECT_SERVER_API_HOST"] == "0.0.0.0"
    assert env["PREFECT_SERVER_CSRF_PROTECTION_ENABLED"] == "true"
    assert secret_sources(api)["PREFECT_SERVER_API_AUTH_STRING"] == ("PrefectAuthSecret", None)
    assert api["PortMappings"] == [{"ContainerPort": 4200, "Name": "http", "Protocol": "tcp"}]
    check = api["HealthCheck"]["Command"]
    assert check[:3] == ["CMD", "python", "-c"]
    assert "http://localhost:4200/api/health" in check[3]


def test_only_the_single_services_task_migrates_then_starts_the_services(
    containers: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    assert script(containers["services"]).endswith(
        "&& prefect server database upgrade -y"
        " && touch /tmp/prefect/migrated"
        " && exec prefect server services start"
    )
    assert containers["services"]["HealthCheck"]["Command"] == ["CMD-SHELL", "test -f /tmp/prefect/migrated"]
    assert "PREFECT_SERVER_API_AUTH_STRING" not in secret_sources(containers["services"])
    assert environment(containers["services"])["PREFECT_API_URL"] == INTERNAL_API_URL
    deployment = services["Services"]["Properties"]
    assert deployment["DesiredCount"] == 1
    assert deployment["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    assert deployment["DeploymentConfiguration"]["MaximumPercent"] == 100


def test_api_and_workers_roll_out_after_the_migration(services: dict[str, dict[str, Any]]) -> None:
    assert services["Services"]["LogicalId"] in services["Api"]["DependsOn"]
    assert services["Api"]["LogicalId"] in services["Worker"]["DependsOn"]


def test_worker_polls_the_pool_through_the_internal_api(containers: dict[str, dict[str, Any]]) -> None:
    worker = containers["worker"]
    assert worker["Command"] == [
        "prefect", "worker", "start", "--pool", "blog-ecs", "--type", "ecs", "--with-healthcheck",
    ]  # fmt: skip
    env = environment(worker)
    assert env["PREFECT_API_URL"] == INTERNAL_API_URL
    assert env["EXTRA_PIP_PACKAGES"] == "prefect-aws==0.7.12"
    assert env["PIP_USER"] == "1"
    assert env["PYTHONUSERBASE"].startswith("/tmp/prefect/")
    assert secret_sources(worker) == {"PREFECT_API_AUTH_STRING": ("PrefectAuthSecret", None)}
    assert "http://localhost:8080/health" in worker["HealthCheck"]["Command"][3]
    assert worker["Image"] == "prefecthq/prefect:3.9.1-python3.12"


@pytest.mark.parametrize("name", ["api", "services", "worker"])
def test_containers_run_non_root_on_read_only_roots_with_prefect_home_on_tmpfs(
    containers: dict[str, dict[str, Any]], name: str
) -> None:
    container = containers[name]
    assert container["User"] == "1000:1000"
    assert container["ReadonlyRootFilesystem"] is True
    [scratch] = container["LinuxParameters"]["Tmpfs"]
    assert scratch["ContainerPath"] == "/tmp"
    assert {"nosuid", "nodev"} <= set(scratch["MountOptions"])
    assert container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert environment(container)["PREFECT_HOME"] == "/tmp/prefect"
    assert container["Image"] == "prefecthq/prefect:3.9.1-python3.12"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "PrefectLogs"}


@pytest.mark.parametrize("role", ["Api", "Services", "Worker"])
def test_services_are_private_with_rollback_circuit_breakers(
    services: dict[str, dict[str, Any]], role: str
) -> None:
    service = services[role]["Properties"]
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert service["PlatformVersion"] == "LATEST"
    assert service["EnableExecuteCommand"] is False
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_api_registers_in_cloud_map_and_behind_the_target_group(
    template: Template, services: dict[str, dict[str, Any]]
) -> None:
    template.has_resource_properties(
        "AWS::ServiceDiscovery::Service",
        {"Name": "prefect-api", "DnsConfig": Match.object_like({"DnsRecords": [{"TTL": 10, "Type": "A"}]})},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"TargetType": "ip", "Port": 4200, "Protocol": "HTTP", "HealthCheckPath": "/api/health"},
    )
    api = services["Api"]["Properties"]
    [target] = api["LoadBalancers"]
    assert (target["ContainerName"], target["ContainerPort"]) == ("api", 4200)
    assert api["HealthCheckGracePeriodSeconds"] >= 60


def test_api_scales_on_cpu(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 1, "MaxCapacity": 3}
    )


def test_api_admits_4200_only_from_workers_flow_runs_and_services(template: Template) -> None:
    rules = template.find_resources("AWS::EC2::SecurityGroupIngress")
    to_api = [
        rule["Properties"]
        for rule in rules.values()
        if rule["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("PrefectApiSecurityGroup")
    ]
    assert {(r["FromPort"], r["ToPort"]) for r in to_api} == {(4200, 4200)}
    sources = sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in to_api)
    assert [s.split("SecurityGroup")[0] for s in sources] == [
        "PrefectFlowRun",
        "PrefectServices",
        "PrefectWorker",
    ]
    assert not any("CidrIp" in rule["Properties"] for rule in rules.values())


def test_redis_requires_tls_and_an_auth_token_from_its_secret(template: Template) -> None:
    [group] = template.find_resources("AWS::ElastiCache::ReplicationGroup").values()
    properties = group["Properties"]
    assert properties["TransitEncryptionEnabled"] is True
    assert properties["AtRestEncryptionEnabled"] is True
    assert properties["Port"] == 6380
    assert properties["Engine"] == "redis"
    assert {"Ref": "PrefectRedisAuthSecret"} in properties["AuthToken"]["Fn::Join"][1]
    assert properties["AuthToken"]["Fn::Join"][1][0] == "{{resolve:secretsmanager:"


def test_redis_admits_only_the_api_and_the_services(template: Template) -> None:
    rules = [
        rule["Properties"]
        for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("PrefectRedisSecurityGroup")
    ]
    assert {(r["FromPort"], r["ToPort"]) for r in rules} == {(6380, 6380)}
    sources = sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0].split("SecurityGroup")[0] for r in rules)
    assert sources == ["PrefectApi", "PrefectServices"]


@pytest.mark.parametrize(
    ("logical", "name", "length"),
    [
        ("PrefectAuthSecret", "blog/test/apps/prefect-auth", 48),
        ("PrefectRedisAuthSecret", "blog/test/apps/prefect-redis", 64),
    ],
)
def test_generated_secrets_are_retained_raw_strings(
    template: Template, logical: str, name: str, length: int
) -> None:
    secret = template.find_resources("AWS::SecretsManager::Secret")[logical]
    assert secret["DeletionPolicy"] == "Retain"
    properties = secret["Properties"]
    assert properties["Name"] == name
    assert properties["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": length}


def test_log_groups_are_retained(template: Template) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    for logical in ("PrefectLogs", "PrefectFlowRunLogs"):
        assert groups[logical]["DeletionPolicy"] == "Retain"
        assert groups[logical]["Properties"]["RetentionInDays"] == 90


def test_attributes_for_the_consumer_contract(built: tuple[Template, Prefect]) -> None:
    prefect = built[1]
    stack = Stack.of(prefect)
    assert prefect.internal_api_url == INTERNAL_API_URL
    assert prefect.work_pool_name == "blog-ecs"
    assert prefect.port == 4200
    variables = stack.resolve(prefect.work_pool_job_variables)
    assert variables["cluster"]["Fn::GetAtt"] == [variables["cluster"]["Fn::GetAtt"][0], "Arn"]
    assert variables["cluster"]["Fn::GetAtt"][0].startswith("EcsCluster")
    assert variables["vpc_id"]["Ref"].startswith("NetworkVpc")
    assert variables["prefect_api_auth_string_secret_arn"] == {"Ref": "PrefectAuthSecret"}
    assert variables["task_role_arn"]["Fn::GetAtt"][0].startswith("FlowRunRole")
    assert variables["execution_role_arn"]["Fn::GetAtt"][0].startswith("FlowRunExecutionRole")
    network = variables["network_configuration"]
    assert network["assignPublicIp"] == "DISABLED"
    assert network["securityGroups"][0]["Fn::GetAtt"][0].startswith("PrefectFlowRunSecurityGroup")
    assert all("application" in subnet["Ref"] for subnet in network["subnets"])
    assert variables["cloudwatch_logs_options"]["awslogs-group"] == {"Ref": "PrefectFlowRunLogs"}
    assert variables["launch_type"] == "FARGATE"
    assert len(prefect.database_clients) == 2


def test_a_worker_image_replaces_the_install_at_start(validation_deps: Deps) -> None:
    prefect = Prefect(
        validation_deps.stack,
        "WithWorkerImage",
        props=props(
            validation_deps, worker_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:3.9.1-aws"
        ),
    )
    resource = prefect.worker_task_definition.node.default_child
    [worker] = Stack.of(prefect).resolve(resource.container_definitions)  # type: ignore[union-attr]
    assert worker["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:3.9.1-aws"
    names = {item["name"] for item in worker["environment"]}
    assert "EXTRA_PIP_PACKAGES" not in names
    assert "PIP_USER" not in names
    assert "noexec" in worker["linuxParameters"]["tmpfs"][0]["mountOptions"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image": "prefecthq/prefect"}, "has no tag"),
        ({"image": "prefecthq/prefect:latest"}, "'latest' is refused"),
        ({"image": "registry:5000/prefect"}, "has no tag"),
        ({"worker_image": "prefecthq/prefect:latest"}, "'latest' is refused"),
        ({"worker_packages": ("prefect-aws",)}, "must pin every package"),
        ({"worker_packages": ()}, "must pin every package"),
        ({"public_url": "http://pipelines.rocketclub.online"}, "must be an https origin"),
        ({"database_ca_bundle_url": "http://example.com/ca.pem"}, "database_ca_bundle_url"),
        ({"secret_name_prefix": ""}, "secret_name_prefix"),
        ({"work_pool_name": "Blog ECS"}, "work_pool_name"),
        ({"server_memory_mib": 512}, "does not fit cpu 1024"),
        ({"worker_cpu": 100}, "is not a Fargate size"),
        ({"api_min_capacity": 3, "api_max_capacity": 2}, "api_min_capacity <= api_max_capacity"),
        ({"api_cpu_target_percent": 5}, "api_cpu_target_percent"),
        ({"worker_count": 11}, "worker_count"),
        ({"redis_replicas": 6}, "redis_replicas"),
        ({"redis_node_type": "t4g.micro"}, "redis_node_type"),
    ],
)
def test_invalid_props_are_refused(validation_deps: Deps, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Prefect(validation_deps.stack, f"Invalid{next(_ids)}", props=props(validation_deps, **overrides))


def test_a_digest_pinned_image_is_accepted(validation_deps: Deps) -> None:
    Prefect(
        validation_deps.stack,
        "Digest",
        props=props(validation_deps, image="prefecthq/prefect@sha256:" + "a" * 64),
    )


def test_every_container_has_a_hard_memory_limit_equal_to_its_task(template: Template) -> None:
    for definition in template.find_resources("AWS::ECS::TaskDefinition").values():
        (container,) = definition["Properties"]["ContainerDefinitions"]
        assert container["Memory"] == int(definition["Properties"]["Memory"])


def test_redis_holds_transient_data_and_is_deleted_with_the_stack(template: Template) -> None:
    (redis,) = template.find_resources("AWS::ElastiCache::ReplicationGroup").values()
    assert redis["DeletionPolicy"] == "Delete" and redis["UpdateReplacePolicy"] == "Delete"


def test_secrets_and_logs_use_the_given_keys() -> None:
    from aws_cdk import aws_kms as kms

    deps = new_deps()
    secrets_key, logs_key = kms.Key(deps.stack, "SecretsKey"), kms.Key(deps.stack, "LogsKey")
    Prefect(
        deps.stack,
        "Prefect",
        props=props(deps, secrets_encryption_key=secrets_key, log_encryption_key=logs_key),
    )
    template = Template.from_stack(deps.stack)
    resolve = deps.stack.resolve
    secrets_arn = {"Fn::GetAtt": [resolve(secrets_key.node.default_child.logical_id), "Arn"]}  # type: ignore[union-attr]
    logs_arn = {"Fn::GetAtt": [resolve(logs_key.node.default_child.logical_id), "Arn"]}  # type: ignore[union-attr]
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    for logical_id in ("PrefectAuthSecret", "PrefectRedisAuthSecret"):
        assert secrets[logical_id]["Properties"]["KmsKeyId"] == secrets_arn
    groups = template.find_resources("AWS::Logs::LogGroup")
    for logical_id in ("PrefectLogs", "PrefectFlowRunLogs"):
        assert groups[logical_id]["Properties"]["KmsKeyId"] == logs_arn
