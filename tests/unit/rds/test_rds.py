"""core/rds: Aurora PostgreSQL Serverless v2, encrypted, TLS-only, with consumer databases."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from infra.modules.core.network.construct import Network, NetworkProps
from infra.modules.core.rds.construct import Database, DatabaseProps
from tests.unit.helpers import new_stack


def database_template(**overrides: Any) -> Template:
    stack = new_stack()
    network = Network(stack, "Network", props=NetworkProps(zone_ids=("use1-az1", "use1-az2")))
    props: dict[str, Any] = {
        "vpc": network.vpc,
        "subnets": network.data_subnets,
        "engine_version": "16.9",
        "min_capacity": 0.5,
        "max_capacity": 4,
        "backup_retention": Duration.days(7),
        "secret_name_prefix": "blog/test/database",
    } | overrides
    Database(stack, "Database", props=DatabaseProps(**props))
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def template() -> Template:
    return database_template(
        readers=1,
        deletion_protection=True,
        bootstrap_reserved_concurrency=1,
        rotation_reserved_concurrency=3,
    )


def cluster(template: Template) -> dict[str, Any]:
    clusters = template.find_resources("AWS::RDS::DBCluster")
    assert list(clusters) == ["AuroraCluster"]
    return clusters["AuroraCluster"]  # type: ignore[no-any-return]


def test_cluster_is_serverless_v2_aurora_postgres(template: Template) -> None:
    props = cluster(template)["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    assert props["EngineVersion"] == "16.9"
    assert props["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4}
    template.resource_count_is("AWS::RDS::DBInstance", 2)
    template.has_resource_properties("AWS::RDS::DBInstance", {"DBInstanceClass": "db.serverless"})


def test_cluster_is_encrypted_with_its_own_rotated_key(template: Template) -> None:
    props = cluster(template)["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey", "Arn"]}
    key = template.find_resources("AWS::KMS::Key")["DatabaseKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate"


def test_master_password_is_managed_and_rotated_by_rds(template: Template) -> None:
    props = cluster(template)["Properties"]
    assert props["ManageMasterUserPassword"] is True
    assert props["MasterUsername"] == "blog_admin"
    assert "MasterUserPassword" not in props
    assert props["MasterUserSecret"] == {"KmsKeyId": {"Fn::GetAtt": ["DatabaseKey", "Arn"]}}


def test_protection_backups_logs_and_snapshot_on_removal(template: Template) -> None:
    resource = cluster(template)
    props = resource["Properties"]
    assert props["DeletionProtection"] is True
    assert props["BackupRetentionPeriod"] == 7
    assert props["EnableCloudwatchLogsExports"] == ["postgresql"]
    assert props["EnableHttpEndpoint"] is True
    assert resource["DeletionPolicy"] == "Snapshot"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_tls_is_required(template: Template) -> None:
    template.has_resource_properties(
        "AWS::RDS::DBClusterParameterGroup",
        {"Family": "aurora-postgresql16", "Parameters": Match.object_like({"rds.force_ssl": "1"})},
    )


def test_cluster_lives_in_isolated_subnets_with_closed_security_group(template: Template) -> None:
    template.has_resource_properties(
        "AWS::RDS::DBSubnetGroup",
        {"SubnetIds": Match.array_with([{"Ref": Match.string_like_regexp("NetworkVpcdataSubnet1")}])},
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Aurora cluster of the blog platform",
            "SecurityGroupEgress": [Match.object_like({"CidrIp": "255.255.255.255/32"})],
        },
    )


@pytest.mark.parametrize("consumer", ["backstage", "prefect", "pipelines"])
def test_each_consumer_gets_a_retained_encrypted_secret(template: Template, consumer: str) -> None:
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    logical = f"Database{consumer.capitalize()}Secret"
    secret = secrets[logical]
    assert secret["DeletionPolicy"] == "RetainExceptOnCreate"
    props = secret["Properties"]
    assert props["Name"] == f"blog/test/database/{consumer}"
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey", "Arn"]}
    assert props["GenerateSecretString"]["GenerateStringKey"] == "password"
    assert f'"username": "{consumer}"' in props["GenerateSecretString"]["SecretStringTemplate"]


def test_bootstrap_runs_the_consumer_sql_through_the_data_api(template: Template) -> None:
    bootstrap = template.find_resources("Custom::AuroraBootstrap")
    assert len(bootstrap) == 1
    props = next(iter(bootstrap.values()))["Properties"]
    assert [c["Name"] for c in props["Consumers"]] == ["backstage", "prefect", "pipelines"]
    assert props["MasterSecretArn"] == {"Fn::GetAtt": ["AuroraCluster", "MasterUserSecret.SecretArn"]}
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "handler.on_event", "Runtime": "python3.14"}
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["rds-data:BatchExecuteStatement", "rds-data:ExecuteStatement"],
                                "Resource": Match.any_value(),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_rejects_min_capacity_above_max() -> None:
    with pytest.raises(ValueError, match="min_capacity must not exceed max_capacity"):
        database_template(min_capacity=8, max_capacity=4)


def test_rejects_duplicate_consumers() -> None:
    with pytest.raises(ValueError, match="distinct names"):
        database_template(consumers=("a", "a"))


def test_instances_report_enhanced_monitoring_every_minute(template: Template) -> None:
    instances = template.find_resources("AWS::RDS::DBInstance")
    assert len(instances) == 2
    for instance in instances.values():
        assert instance["Properties"]["MonitoringInterval"] == 60
        assert "Fn::GetAtt" in instance["Properties"]["MonitoringRoleArn"]


def test_the_key_refuses_grants_not_made_by_aws_services(template: Template) -> None:
    key = template.find_resources("AWS::KMS::Key")["DatabaseKey"]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    deny = next(s for s in statements if s.get("Sid") == "DenyGrantsExceptForAwsServices")
    assert (
        deny["Effect"] == "Deny" and deny["Action"] == "kms:CreateGrant" and deny["Principal"] == {"AWS": "*"}
    )
    assert deny["Condition"] == {
        "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
    }


def test_bootstrap_runs_with_its_own_role_one_at_a_time_after_the_instances(template: Template) -> None:
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "handler.on_event"}}
    )
    (function,) = functions.values()
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]
    assert "ManagedPolicyArns" not in role["Properties"]
    (bootstrap,) = template.find_resources("Custom::AuroraBootstrap").values()
    instances = set(template.find_resources("AWS::RDS::DBInstance"))
    assert set(bootstrap["DependsOn"]) == instances


def test_bootstrap_logs_are_encrypted_with_the_given_key() -> None:
    from aws_cdk import aws_kms as kms

    stack = new_stack()
    key = kms.Key(stack, "LogsKey")
    network = Network(stack, "Network", props=NetworkProps(zone_ids=("use1-az1", "use1-az2")))
    Database(
        stack,
        "Database",
        props=DatabaseProps(
            vpc=network.vpc,
            subnets=network.data_subnets,
            engine_version="16.9",
            secret_name_prefix="blog/test/database",
            log_encryption_key=key,
        ),
    )
    groups = Template.from_stack(stack).find_resources("AWS::Logs::LogGroup")
    assert [
        g["Properties"].get("KmsKeyId") for i, g in groups.items() if i.startswith("DatabaseBootstrap")
    ] == [
        {"Fn::GetAtt": [stack.resolve(key.node.default_child.logical_id), "Arn"]}  # type: ignore[union-attr]
    ]


def rotation_function(template: Template) -> tuple[str, dict[str, Any]]:
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "rotation.on_rotate"}}
    )
    ((logical_id, function),) = functions.items()
    return logical_id, function


@pytest.mark.parametrize("consumer", ["backstage", "prefect", "pipelines"])
def test_each_consumer_secret_rotates_on_its_schedule_through_our_function(
    template: Template, consumer: str
) -> None:
    function_id, _ = rotation_function(template)
    schedules = [
        s["Properties"]
        for s in template.find_resources("AWS::SecretsManager::RotationSchedule").values()
        if s["Properties"]["SecretId"] == {"Ref": f"Database{consumer.capitalize()}Secret"}
    ]
    assert schedules == [
        {
            "SecretId": {"Ref": f"Database{consumer.capitalize()}Secret"},
            "RotationLambdaARN": {"Fn::GetAtt": [function_id, "Arn"]},
            "RotationRules": {"AutomaticallyAfterDays": 30},
            "RotateImmediatelyOnUpdate": False,
        }
    ]
    permissions = [
        p["Properties"]
        for p in template.find_resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        and p["Properties"]["SourceArn"] == {"Ref": f"Database{consumer.capitalize()}Secret"}
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": "123456789012",
            "SourceArn": {"Ref": f"Database{consumer.capitalize()}Secret"},
        }
    ]


def test_rotation_schedule_follows_the_props() -> None:
    template = database_template(consumer_rotation=Duration.days(90))
    days = {
        s["Properties"]["RotationRules"]["AutomaticallyAfterDays"]
        for s in template.find_resources("AWS::SecretsManager::RotationSchedule").values()
    }
    assert days == {90}
    for bad in (Duration.days(3), Duration.days(400), Duration.hours(36 * 24 + 1)):
        with pytest.raises(ValueError, match="consumer_rotation must be whole days from 7 to 365"):
            database_template(consumer_rotation=bad)


def test_rotation_function_is_least_privileged_and_alone(template: Template) -> None:
    _, function = rotation_function(template)
    props = function["Properties"]
    assert props["ReservedConcurrentExecutions"] == 3
    assert props["Code"] == next(
        f["Properties"]["Code"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "handler.on_event"
    ), "the rotation ships in the bootstrap's asset, whose SQL it imports"
    assert "VpcConfig" not in props
    assert set(props["Environment"]["Variables"]) == {
        "CLUSTER_ARN",
        "MASTER_SECRET_ARN",
        "KMS_KEY_ID",
        "CHECK_SECRET_PREFIX",
        "CONSUMERS",
    }
    assert props["Environment"]["Variables"]["CHECK_SECRET_PREFIX"] == "blog/test/database/rotation-check/"
    role_id = props["Role"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for statement_list in policies for s in statement_list]
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert wildcard == [
        {
            "Action": "secretsmanager:GetRandomPassword",
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "GeneratePasswords",
        }
    ]
    checks = next(s for s in statements if s.get("Sid") == "ShortLivedLoginChecks")
    assert checks["Action"] == [
        "secretsmanager:CreateSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:GetSecretValue",
    ]
    assert checks["Resource"]["Fn::Join"][1][-1].endswith(":secret:blog/test/database/rotation-check/*")
    actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "secretsmanager:UpdateSecretVersionStage" in actions
    assert not any(a.endswith(":*") for a in actions)
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert [i for i in groups if i.startswith("DatabaseRotationLogs")] != []
    assert props["LoggingConfig"]["LogGroup"] == {
        "Ref": next(i for i in groups if i.startswith("DatabaseRotationLogs"))
    }


def test_without_reservations_no_function_reserves_concurrency() -> None:
    # GIVEN the database with the default props (a new account's Lambda quota leaves none to reserve)
    # WHEN synthesized THEN neither the bootstrap nor the rotation function reserves concurrency
    functions = database_template().find_resources("AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    assert {"handler.on_event", "rotation.on_rotate"} <= set(handlers)
    assert all("ReservedConcurrentExecutions" not in props for props in handlers.values())


def test_a_reservation_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="bootstrap_reserved_concurrency 0 must be at least 1"):
        database_template(bootstrap_reserved_concurrency=0)
