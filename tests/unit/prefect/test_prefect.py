"""apps/prefect: self-hosted Prefect 3 split into API, background services and workers."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from infra.modules.apps.prefect.construct import DEFAULT_IMAGE_TAG, WORKER_START, Prefect, PrefectProps
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
    network = Network(stack, "Network", props=NetworkProps(zone_ids=("use1-az1", "use1-az2")))
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


def service_roles(services: dict[str, Any]) -> list[str]:
    """`Api`, `Services`, `Worker`: which of the module's services a template holds."""
    return sorted(
        role
        for role in ("Api", "Services", "Worker")
        for name in services
        if name.startswith(f"Prefect{role}Service")
    )


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
    assert worker["Command"] == ["/bin/sh", "-c", WORKER_START, "worker", "blog-ecs"]
    assert WORKER_START.endswith('exec prefect worker start --pool "$1" --type ecs --with-healthcheck')
    env = environment(worker)
    assert env["PREFECT_API_URL"] == INTERNAL_API_URL
    assert "BLOG_WORK_POOL_JOB_VARIABLES" in env and "BLOG_APPLY_JOB_VARIABLES" in env
    assert secret_sources(worker) == {"PREFECT_API_AUTH_STRING": ("PrefectAuthSecret", None)}
    assert "http://localhost:8080/health" in worker["HealthCheck"]["Command"][3]


def test_worker_runs_the_servers_image_from_the_modules_repository_and_installs_nothing_at_start(
    template: Template, containers: dict[str, dict[str, Any]]
) -> None:
    worker = containers["worker"]
    [repository] = template.find_resources("AWS::ECR::Repository")
    image = worker["Image"]["Fn::Join"][1]
    assert {"Ref": repository} in image and image[-1] == f":{DEFAULT_IMAGE_TAG}"
    assert worker["Image"] == containers["api"]["Image"] == containers["services"]["Image"]
    names = set(environment(worker))
    assert not names & {"EXTRA_PIP_PACKAGES", "PIP_USER", "PYTHONUSERBASE"}
    assert "noexec" in worker["LinuxParameters"]["Tmpfs"][0]["MountOptions"]


def test_worker_observer_reads_its_own_queue(
    template: Template, containers: dict[str, dict[str, Any]]
) -> None:
    env = environment(containers["worker"])
    [queue_id] = [
        logical_id
        for logical_id, queue in template.find_resources("AWS::SQS::Queue").items()
        if "RedrivePolicy" in queue["Properties"]
    ]
    assert env["PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME"] == {
        "Fn::GetAtt": [queue_id, "QueueName"]
    }
    assert env["PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION"] == "us-east-1"


def test_observer_queue_is_encrypted_with_a_dead_letter_queue_fed_by_the_clusters_flow_runs(
    template: Template,
) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    [(queue_id, queue)] = [(k, v) for k, v in queues.items() if "RedrivePolicy" in v["Properties"]]
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 3
    dead_letter_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    for logical_id in (queue_id, dead_letter_id):
        assert queues[logical_id]["Properties"]["SqsManagedSseEnabled"] is True
    [rule] = template.find_resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["group"] == [{"prefix": "family:prefect"}]
    [cluster_arn] = pattern["detail"]["clusterArn"]
    assert "Arn" in cluster_arn["Fn::GetAtt"]
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for p in template.find_resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    [delivery] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "events.amazonaws.com"}
    assert delivery["Action"] == "sqs:SendMessage"
    assert set(delivery["Condition"]) == {"ArnEquals", "StringEquals"}
    assert "aws:SourceAccount" in delivery["Condition"]["StringEquals"]


def test_api_serves_the_ui_from_its_scratch_space(containers: dict[str, dict[str, Any]]) -> None:
    assert environment(containers["api"])["PREFECT_UI_STATIC_DIRECTORY"] == "/tmp/prefect/ui"


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
    assert container["Image"]["Fn::Join"][1][-1] == f":{DEFAULT_IMAGE_TAG}"
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
    assert secret["DeletionPolicy"] == "RetainExceptOnCreate"
    properties = secret["Properties"]
    assert properties["Name"] == name
    assert properties["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": length}


def test_log_groups_are_retained(template: Template) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    for logical in ("PrefectLogs", "PrefectFlowRunLogs"):
        assert groups[logical]["DeletionPolicy"] == "RetainExceptOnCreate"
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


def test_the_image_repository_keeps_immutable_scanned_images() -> None:
    deps = new_deps()
    Prefect(deps.stack, "Repo", props=props(deps, image_tag="3.9.1-abc", image_retention_count=4))
    [repository] = Template.from_stack(deps.stack).find_resources("AWS::ECR::Repository").values()
    assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["Properties"]["EncryptionConfiguration"] == {"EncryptionType": "KMS"}
    assert repository["DeletionPolicy"] == "RetainExceptOnCreate"
    assert '"countNumber":4' in repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image_tag": "latest"}, "'latest' is refused"),
        ({"image_tag": "3.9.1/x"}, "is not a Docker tag"),
        ({"flow_run_family_prefix": "a b"}, "flow_run_family_prefix"),
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


# --- capacity and architecture --------------------------------------------------------------------


def test_by_default_every_task_is_x86_64_on_demand(
    template: Template, services: dict[str, dict[str, Any]]
) -> None:
    # GIVEN the module with its defaults THEN the services launch on plain Fargate, the tasks are x86-64
    for role in ("Api", "Services", "Worker"):
        service = services[role]["Properties"]
        assert service["LaunchType"] == "FARGATE"
        assert "CapacityProviderStrategy" not in service
    for definition in template.find_resources("AWS::ECS::TaskDefinition").values():
        assert definition["Properties"]["RuntimePlatform"] == {
            "CpuArchitecture": "X86_64",
            "OperatingSystemFamily": "LINUX",
        }


@pytest.fixture(scope="module")
def spot_arm() -> Template:
    # GIVEN the split topology on Graviton, with the servers and the workers on Fargate Spot
    deps = new_deps()
    Prefect(
        deps.stack,
        "Prefect",
        props=props(
            deps,
            cpu_architecture=ecs.CpuArchitecture.ARM64,
            server_spot=True,
            worker_spot=True,
        ),
    )
    return Template.from_stack(deps.stack)


def test_spot_replaces_the_launch_type_with_the_fargate_spot_strategy(spot_arm: Template) -> None:
    services = spot_arm.find_resources("AWS::ECS::Service")
    assert len(services) == 3
    for service in services.values():
        # THEN each service asks FARGATE_SPOT alone for capacity, and names no launch type
        assert service["Properties"]["CapacityProviderStrategy"] == [
            {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
        ]
        assert "LaunchType" not in service["Properties"]


def test_arm64_reaches_every_task_definition(spot_arm: Template) -> None:
    definitions = spot_arm.find_resources("AWS::ECS::TaskDefinition")
    assert len(definitions) == 3
    for definition in definitions.values():
        assert definition["Properties"]["RuntimePlatform"] == {
            "CpuArchitecture": "ARM64",
            "OperatingSystemFamily": "LINUX",
        }


def test_flow_runs_start_on_spot_through_the_work_pool_launch_type(validation_deps: Deps) -> None:
    # GIVEN flow_run_spot WHEN the job variables are read
    prefect = Prefect(validation_deps.stack, "FlowRunSpot", props=props(validation_deps, flow_run_spot=True))
    variables = Stack.of(prefect).resolve(prefect.work_pool_job_variables)
    # THEN prefect-aws's ECS worker turns FARGATE_SPOT into a FARGATE_SPOT capacity-provider strategy
    assert variables["launch_type"] == "FARGATE_SPOT"
    assert "capacity_provider_strategy" not in variables


# --- the single-task topology ---------------------------------------------------------------------

LEAN_SERVER_MEMORY = 3072
LEAN_WORKER_MEMORY = 1024


@pytest.fixture(scope="module")
def lean_built() -> tuple[Template, Prefect]:
    # GIVEN everything embedded in one API task of 0.5 vCPU / 3 GB (1 GB the worker's), on Graviton Spot
    deps = new_deps()
    prefect = Prefect(
        deps.stack,
        "Prefect",
        props=props(
            deps,
            server_cpu=512,
            server_memory_mib=LEAN_SERVER_MEMORY,
            worker_memory_mib=LEAN_WORKER_MEMORY,
            api_max_capacity=1,
            embedded_services=True,
            embedded_worker=True,
            cpu_architecture=ecs.CpuArchitecture.ARM64,
            server_spot=True,
            flow_run_spot=True,
        ),
    )
    return Template.from_stack(deps.stack), prefect


@pytest.fixture(scope="module")
def lean(lean_built: tuple[Template, Prefect]) -> Template:
    return lean_built[0]


@pytest.fixture(scope="module")
def lean_task(lean: Template) -> dict[str, Any]:
    [definition] = lean.find_resources("AWS::ECS::TaskDefinition").values()
    return definition["Properties"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def lean_containers(lean_task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {container["Name"]: container for container in lean_task["ContainerDefinitions"]}


def test_embedded_there_is_one_service_on_spot_with_exactly_one_api_task(lean: Template) -> None:
    [(logical, service)] = lean.find_resources("AWS::ECS::Service").items()
    assert logical.startswith("PrefectApiService")
    assert service["Properties"]["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]
    assert service["Properties"]["DesiredCount"] == 1
    lean.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 1, "MaxCapacity": 1}
    )


def test_embedded_services_drop_redis_its_secret_and_its_network(lean: Template) -> None:
    assert lean.find_resources("AWS::ElastiCache::ReplicationGroup") == {}
    assert lean.find_resources("AWS::ElastiCache::SubnetGroup") == {}
    assert set(lean.find_resources("AWS::SecretsManager::Secret")) == {
        "PrefectAuthSecret",
        database_secret_id(lean),
    }
    descriptions = {
        group["Properties"]["GroupDescription"]
        for group in lean.find_resources("AWS::EC2::SecurityGroup").values()
    }
    assert {
        "Prefect Redis message broker",
        "Prefect background-services task",
        "Prefect ECS worker tasks",
    }.isdisjoint(descriptions)
    assert "6380" not in json.dumps(lean.to_json())


def test_embedded_the_api_admits_only_the_flow_runs(lean: Template) -> None:
    rules = [
        rule["Properties"]
        for rule in lean.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("PrefectApiSecurityGroup")
    ]
    assert [r["SourceSecurityGroupId"]["Fn::GetAtt"][0].split("SecurityGroup")[0] for r in rules] == [
        "PrefectFlowRun"
    ]


def test_embedded_api_migrates_then_runs_the_services_with_the_in_memory_broker(
    lean_containers: dict[str, dict[str, Any]],
) -> None:
    api = lean_containers["api"]
    assert script(api).endswith(
        "&& prefect server database upgrade -y && exec prefect server start --host 0.0.0.0 --port 4200"
    )
    assert "--no-services" not in script(api)
    assert "DOCKET" not in script(api) and "REDIS" not in script(api)
    env = environment(api)
    assert not [name for name in env if "REDIS" in name or name.startswith("PREFECT_MESSAGING_")]
    assert "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING" not in env
    assert "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE" not in env
    assert env["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "false"
    assert env["PREFECT_API_URL"] == "http://localhost:4200/api"
    assert set(secret_sources(api)) == {
        *(f"PREFECT_SERVER_DATABASE_{part}" for part in ("HOST", "PORT", "USER", "PASSWORD", "NAME")),
        "PREFECT_API_AUTH_STRING",
        "PREFECT_SERVER_API_AUTH_STRING",
    }


def test_embedded_api_gets_the_migration_time_before_health_checks_count(
    lean: Template, lean_containers: dict[str, dict[str, Any]]
) -> None:
    assert lean_containers["api"]["HealthCheck"]["StartPeriod"] == 300
    [service] = lean.find_resources("AWS::ECS::Service").values()
    assert service["Properties"]["HealthCheckGracePeriodSeconds"] == 300


def test_embedded_worker_is_a_second_container_with_its_own_memory_share(
    lean_task: dict[str, Any], lean_containers: dict[str, dict[str, Any]]
) -> None:
    assert [c["Name"] for c in lean_task["ContainerDefinitions"]] == ["api", "worker"]
    assert (lean_task["Cpu"], lean_task["Memory"]) == ("512", str(LEAN_SERVER_MEMORY))
    api, worker = lean_containers["api"], lean_containers["worker"]
    # THEN each container has a hard limit, together exactly the task's memory
    assert worker["Memory"] == LEAN_WORKER_MEMORY
    assert api["Memory"] == LEAN_SERVER_MEMORY - LEAN_WORKER_MEMORY
    assert "Cpu" not in worker and "Cpu" not in api
    assert lean_task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"


def test_embedded_worker_polls_the_api_next_to_it_once_the_api_is_healthy(
    lean_containers: dict[str, dict[str, Any]],
) -> None:
    worker = lean_containers["worker"]
    assert worker["DependsOn"] == [{"Condition": "HEALTHY", "ContainerName": "api"}]
    assert worker["Essential"] is True
    assert environment(worker)["PREFECT_API_URL"] == "http://localhost:4200/api"
    assert worker["Command"] == ["/bin/sh", "-c", WORKER_START, "worker", "blog-ecs"]
    assert secret_sources(worker) == {"PREFECT_API_AUTH_STRING": ("PrefectAuthSecret", None)}
    assert worker["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "worker"
    assert "PortMappings" not in worker


def test_embedded_the_task_runs_as_the_worker_role_and_no_role_gains_anything(
    lean: Template, lean_task: dict[str, Any], template: Template
) -> None:
    # THEN the one task holds the worker's permissions: the server role is used by no task
    assert lean_task["TaskRoleArn"]["Fn::GetAtt"][0].startswith("WorkerRole")
    assert "ServerRole" not in json.dumps(lean.find_resources("AWS::ECS::TaskDefinition"))

    # AND neither task role receives a statement from the module, embedded or not (no role is widened)
    def task_role_policies(t: Template) -> list[Any]:
        return [
            policy
            for policy in t.find_resources("AWS::IAM::Policy").values()
            if any(
                r.get("Ref", "").startswith(("WorkerRole", "ServerRole"))
                for r in policy["Properties"]["Roles"]
            )
        ]

    assert task_role_policies(lean) == task_role_policies(template) == []


def test_embedded_the_execution_role_reads_the_database_login_and_the_auth_string_only(
    lean: Template,
) -> None:
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for name, p in lean.find_resources("AWS::IAM::Policy").items()
        if name.startswith("PrefectApiTaskDefinitionExecutionRole")
    ]
    [reads] = [s for s in policy if "secretsmanager:GetSecretValue" in s["Action"]]
    assert sorted(r["Ref"] for r in reads["Resource"]) == sorted(
        ["PrefectAuthSecret", database_secret_id(lean)]
    )


def test_embedded_attributes_say_what_is_not_there(lean_built: tuple[Template, Prefect]) -> None:
    prefect = lean_built[1]
    assert prefect.services_service is None and prefect.services_task_definition is None
    assert prefect.worker_service is None
    assert prefect.redis is None and prefect.redis_auth_secret is None
    assert prefect.services_security_group is None
    assert prefect.worker_security_group is None and prefect.redis_security_group is None
    assert prefect.worker_task_definition is prefect.api_task_definition
    assert prefect.database_clients == (prefect.api_service,)
    assert Stack.of(prefect).resolve(prefect.work_pool_job_variables)["launch_type"] == "FARGATE_SPOT"


@pytest.fixture(scope="module")
def services_only() -> Template:
    # GIVEN only the services embedded: the worker keeps its own (Spot) service
    deps = new_deps()
    Prefect(
        deps.stack,
        "Prefect",
        props=props(deps, api_max_capacity=1, embedded_services=True, worker_spot=True),
    )
    return Template.from_stack(deps.stack)


def test_embedded_services_alone_keep_the_worker_service_and_the_server_role(services_only: Template) -> None:
    services = services_only.find_resources("AWS::ECS::Service")
    assert service_roles(services) == ["Api", "Worker"]
    [worker] = [s for name, s in services.items() if name.startswith("PrefectWorkerService")]
    assert worker["Properties"]["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]
    [api] = [s for name, s in services.items() if name.startswith("PrefectApiService")]
    assert api["Properties"]["LaunchType"] == "FARGATE"
    roles = {
        definition["Properties"]["ContainerDefinitions"][0]["Name"]: definition["Properties"]["TaskRoleArn"]
        for definition in services_only.find_resources("AWS::ECS::TaskDefinition").values()
    }
    assert roles["api"]["Fn::GetAtt"][0].startswith("ServerRole")
    assert roles["worker"]["Fn::GetAtt"][0].startswith("WorkerRole")
    assert services_only.find_resources("AWS::ElastiCache::ReplicationGroup") == {}


@pytest.fixture(scope="module")
def worker_only() -> Template:
    # GIVEN only the worker embedded: the background services and Redis stay
    deps = new_deps()
    Prefect(
        deps.stack,
        "Prefect",
        props=props(deps, api_max_capacity=1, embedded_worker=True, worker_memory_mib=1024),
    )
    return Template.from_stack(deps.stack)


def test_embedded_worker_alone_keeps_redis_and_the_services_task(worker_only: Template) -> None:
    services = worker_only.find_resources("AWS::ECS::Service")
    assert service_roles(services) == ["Api", "Services"]
    worker_only.resource_count_is("AWS::ElastiCache::ReplicationGroup", 1)
    definitions = {
        tuple(c["Name"] for c in d["Properties"]["ContainerDefinitions"]): d["Properties"]
        for d in worker_only.find_resources("AWS::ECS::TaskDefinition").values()
    }
    assert set(definitions) == {("api", "worker"), ("services",)}
    assert definitions[("api", "worker")]["TaskRoleArn"]["Fn::GetAtt"][0].startswith("WorkerRole")
    assert definitions[("services",)]["TaskRoleArn"]["Fn::GetAtt"][0].startswith("ServerRole")
    api = definitions[("api", "worker")]["ContainerDefinitions"][0]
    # THEN the API keeps Redis, runs no services, and shares the task's memory with the worker
    assert script(api).endswith("--no-services")
    assert environment(api)["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging"
    assert api["Memory"] + definitions[("api", "worker")]["ContainerDefinitions"][1]["Memory"] == int(
        definitions[("api", "worker")]["Memory"]
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"embedded_services": True}, r"embedded_services needs api_max_capacity = 1 \(got 2\)"),
        (
            {"embedded_services": True, "api_max_capacity": 1, "redis_replicas": 1},
            "redis_replicas must be 0 with embedded_services",
        ),
        (
            {"embedded_worker": True},
            r"embedded_worker needs worker_count = 1 and api_max_capacity = 1 \(got 1 and 2\)",
        ),
        (
            {"embedded_worker": True, "api_max_capacity": 1, "worker_count": 2},
            r"embedded_worker needs worker_count = 1 and api_max_capacity = 1 \(got 2 and 1\)",
        ),
        (
            {"embedded_worker": True, "api_max_capacity": 1, "worker_spot": True},
            "worker_spot does not apply with embedded_worker",
        ),
        (
            {"embedded_worker": True, "api_max_capacity": 1, "worker_memory_mib": 2048},
            r"splits server_memory_mib \(2048\) between the API and the worker",
        ),
        (
            {"embedded_worker": True, "api_max_capacity": 1, "worker_memory_mib": 256},
            "each needs at least 512 MiB",
        ),
        (
            {"cpu_architecture": ecs.CpuArchitecture.of("arm64")},
            "'arm64' is not one Linux Fargate tasks run on",
        ),
    ],
)
def test_invalid_embedding_is_refused(validation_deps: Deps, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Prefect(validation_deps.stack, f"Invalid{next(_ids)}", props=props(validation_deps, **overrides))


def test_an_embedded_worker_share_need_not_be_a_fargate_task_size(validation_deps: Deps) -> None:
    # GIVEN a worker share of 768 MiB, which no 0.5 vCPU Fargate task could have on its own
    prefect = Prefect(
        validation_deps.stack,
        "OddShare",
        props=props(validation_deps, api_max_capacity=1, embedded_worker=True, worker_memory_mib=768),
    )
    assert prefect.worker_container.memory_limit_specified
