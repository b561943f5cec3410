"""The shared Aurora PostgreSQL Serverless v2 cluster and one database per consumer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnDeletionPolicy, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.modules.keys import restrict_grants_to_aws_services
from infra.modules.stateful import pin_logical_id

BOOTSTRAP_CODE = Path(__file__).resolve().parent / "bootstrap"
DEFAULT_CONSUMERS = ("backstage", "prefect", "pipelines")
MASTER_USERNAME = "blog_admin"
DEFAULT_BACKUP_RETENTION = Duration.days(7)
DEFAULT_CONSUMER_ROTATION = Duration.days(30)
ROTATION_DAYS = (7, 365)
ROTATION_CHECK_PREFIX = "rotation-check"
"""testSecret's short-lived secrets are named `<secret_name_prefix>/rotation-check/<consumer>-<token>`."""
ENHANCED_MONITORING_INTERVAL = Duration.seconds(60)
BOOTSTRAP_RUNTIME = lambda_.Runtime.PYTHON_3_14
LOG_RETENTION_FUNCTION = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"
"""The id of the stack-wide function CDK creates to set the retention of the cluster's log export."""


@dataclass(frozen=True, kw_only=True)
class ClusterRestore:
    """Where a new cluster's data comes from: a cluster snapshot, or a point in time of a cluster.

    CloudFormation restores only when it creates the cluster; the source must stay set afterwards, as
    a template without it asks for a new, empty cluster (AWS::RDS::DBCluster `SnapshotIdentifier`)."""

    snapshot: str | None = None
    """Identifier or ARN of a cluster snapshot."""
    source_cluster: str | None = None
    """Identifier of the cluster to restore to a point in time."""
    to_time: str | None = None
    """That point in time, UTC, e.g. `2025-05-01T12:00:00Z`."""
    latest: bool = False
    """Restore to the source's latest restorable time instead."""

    def __post_init__(self) -> None:
        if (self.snapshot is None) == (self.source_cluster is None):
            raise ValueError("ClusterRestore needs exactly one of snapshot, source_cluster")
        if self.source_cluster is not None and (self.to_time is None) == (not self.latest):
            raise ValueError("ClusterRestore to a point in time needs exactly one of to_time, latest")
        if self.snapshot is not None and (self.to_time is not None or self.latest):
            raise ValueError("ClusterRestore from a snapshot takes no point in time")

    def properties(self) -> dict[str, Any]:
        """The restore's properties of AWS::RDS::DBCluster.

        A point-in-time restore is a `full-copy`, so the restored cluster shares no storage with its
        source and the source can be deleted later (`copy-on-write` would make it a clone)."""
        if self.snapshot is not None:
            return {"SnapshotIdentifier": self.snapshot}
        timing: dict[str, Any] = (
            {"UseLatestRestorableTime": True} if self.latest else {"RestoreToTime": self.to_time}
        )
        return {"RestoreType": "full-copy", "SourceDBClusterIdentifier": self.source_cluster, **timing}


@dataclass(frozen=True, kw_only=True)
class DatabaseProps:
    """Inputs of the database module."""

    vpc: ec2.IVpc
    """VPC of the cluster."""
    subnets: ec2.SubnetSelection
    """Subnets of the cluster; isolated ones, as the database needs no internet."""
    engine_version: str
    """Aurora PostgreSQL version, e.g. `16.9`."""
    min_capacity: float = 0.5
    """Minimum Aurora capacity units of every instance."""
    max_capacity: float = 4
    """Maximum Aurora capacity units of every instance."""
    readers: int = 0
    """Serverless v2 readers in addition to the writer; a reader gives fast fail-over."""
    backup_retention: Duration = DEFAULT_BACKUP_RETENTION
    """How long automated backups are kept."""
    deletion_protection: bool = True
    """Refuse deletion of the cluster."""
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
    """Retention of the exported postgresql log and of the bootstrap function's logs."""
    log_encryption_key: kms.IKey | None = None
    """KMS key that encrypts the bootstrap function's log group; None: CloudWatch's own key."""
    consumers: tuple[str, ...] = DEFAULT_CONSUMERS
    """One database, login role and secret is made for each; the names are also the role names."""
    secret_name_prefix: str
    """Consumer secrets are named `<secret_name_prefix>/<consumer>`."""
    consumer_rotation: Duration = DEFAULT_CONSUMER_ROTATION
    """Each consumer secret is rotated this often (whole days, 7-365), alternating between the
    consumer's two logins; a login handed to a task stays valid for at least this long."""
    restore: ClusterRestore | None = None
    """Create the cluster from a snapshot or a point in time; keep it set while the restored cluster lives."""
    bootstrap_reserved_concurrency: int | None = None
    """Concurrent executions reserved for the bootstrap function (1 runs it one at a time); None: none
    reserved (a new account's Lambda quota leaves none to reserve)."""
    rotation_reserved_concurrency: int | None = None
    """Concurrent executions reserved for the rotation function (one per consumer lets every login
    rotate at once); None: none reserved."""


class Database(Construct):
    """Encrypted Aurora PostgreSQL Serverless v2 with an RDS-managed (rotated) master secret, TLS
    required, the postgresql log exported, and a bootstrap that creates each consumer's database."""

    def __init__(self, scope: Construct, id: str, *, props: DatabaseProps) -> None:
        super().__init__(scope, id)
        if props.min_capacity > props.max_capacity:
            raise ValueError("Database min_capacity must not exceed max_capacity")
        if not props.consumers or len(set(props.consumers)) != len(props.consumers):
            raise ValueError("Database consumers must be a non-empty list of distinct names")
        rotation_days = props.consumer_rotation.to_seconds() / 86400
        if rotation_days != int(rotation_days) or not ROTATION_DAYS[0] <= rotation_days <= ROTATION_DAYS[1]:
            raise ValueError(
                f"Database consumer_rotation must be whole days from {ROTATION_DAYS[0]} to {ROTATION_DAYS[1]}"
            )
        for name in ("bootstrap_reserved_concurrency", "rotation_reserved_concurrency"):
            value = getattr(props, name)
            if value is not None and value < 1:
                raise ValueError(f"Database {name} {value} must be at least 1, or None to reserve none")
        major = props.engine_version.split(".")[0]

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the blog platform's Aurora cluster and database secrets.",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            pending_window=Duration.days(30),
        )
        pin_logical_id(self.key, "DatabaseKey")
        restrict_grants_to_aws_services(self.key)

        engine = rds.DatabaseClusterEngine.aurora_postgres(
            version=rds.AuroraPostgresEngineVersion.of(props.engine_version, major)
        )
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="Blog platform Aurora PostgreSQL: TLS required, slow statements logged.",
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description="Aurora cluster of the blog platform",
            allow_all_outbound=False,
        )
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=engine,
            parameter_group=parameters,
            credentials=rds.Credentials.from_username(MASTER_USERNAME),
            manage_master_user_password=True,
            writer=rds.ClusterInstance.serverless_v2("Writer", auto_minor_version_upgrade=True),
            readers=[
                rds.ClusterInstance.serverless_v2(f"Reader{n}", scale_with_writer=True)
                for n in range(1, props.readers + 1)
            ],
            serverless_v2_min_capacity=props.min_capacity,
            serverless_v2_max_capacity=props.max_capacity,
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            security_groups=[self.security_group],
            storage_encrypted=True,
            storage_encryption_key=self.key,
            backup=rds.BackupProps(retention=props.backup_retention, preferred_window="03:00-04:00"),
            preferred_maintenance_window="sun:04:30-sun:05:30",
            deletion_protection=props.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=props.log_retention,
            enable_data_api=True,
            iam_authentication=True,
            monitoring_interval=ENHANCED_MONITORING_INTERVAL,
            copy_tags_to_snapshot=True,
            default_database_name="postgres",
        )
        cfn_cluster = self.cluster.node.default_child
        assert isinstance(cfn_cluster, rds.CfnDBCluster)
        cfn_cluster.master_user_secret = rds.CfnDBCluster.MasterUserSecretProperty(
            kms_key_id=self.key.key_arn
        )
        pin_logical_id(self.cluster, "AuroraCluster")
        # A replaced cluster (a restore) is kept, data and all, until someone deletes it; its instances
        # are not (their data lives in the cluster volume; see the module README).
        cfn_cluster.cfn_options.update_replace_policy = CfnDeletionPolicy.RETAIN
        if props.restore is not None:
            self._restore_from(cfn_cluster, props.restore)
        self._scope_log_retention()

        self.master_secret = secretsmanager.Secret.from_secret_complete_arn(
            self, "MasterSecret", cfn_cluster.attr_master_user_secret_secret_arn
        )
        self.consumer_secrets: dict[str, secretsmanager.Secret] = {
            name: self._consumer_secret(name, props) for name in props.consumers
        }
        self.bootstrap = self._bootstrap(props)
        self.rotation_function = self._rotation(props)

    @staticmethod
    def _restore_from(cfn_cluster: rds.CfnDBCluster, restore: ClusterRestore) -> None:
        """The restore's properties, and no MasterUsername: the restored cluster inherits its master user
        from the snapshot or source cluster (CloudFormation: "don't specify this property"). The
        managed master secret, the Data API and every other setting are applied by CloudFormation after
        the restore (aws-cloudformation-resource-providers-rds, dbcluster CreateHandler: ModifyDBCluster
        after RestoreDBClusterFromSnapshot / RestoreDBClusterToPointInTime). StorageEncrypted stays:
        the restore requests do not send it and its validation refuses only opting out of encryption."""
        for name, value in restore.properties().items():
            cfn_cluster.add_property_override(name, value)
        cfn_cluster.add_property_deletion_override("MasterUsername")

    def _scope_log_retention(self) -> None:
        """CDK grants its log-retention function the retention actions on every log group; here it
        only sets the retention of the cluster's own exports, so scope the grant to those."""
        stack = Stack.of(self)
        function = stack.node.try_find_child(LOG_RETENTION_FUNCTION)
        policy = function.node.try_find_child("ServiceRole") if function else None
        default = policy.node.try_find_child("DefaultPolicy") if policy else None
        if default is None or not isinstance(default.node.default_child, iam.CfnPolicy):
            raise TypeError("CDK no longer creates the log-retention function's policy where rds expects it")
        default.node.default_child.add_property_override(
            "PolicyDocument.Statement.0.Resource",
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name="/aws/rds/cluster/*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
        )

    def _consumer_secret(self, consumer: str, props: DatabaseProps) -> secretsmanager.Secret:
        construct_id = f"{consumer.capitalize()}Secret"
        secret = secretsmanager.Secret(
            self,
            construct_id,
            secret_name=f"{props.secret_name_prefix}/{consumer}",
            description=f"Login of the {consumer} database user on the blog platform's Aurora cluster.",
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(
                    {"username": consumer, "dbname": consumer, "engine": "postgres"}, sort_keys=True
                ),
                generate_string_key="password",
                exclude_punctuation=True,
                password_length=40,
            ),
        )
        pin_logical_id(secret, f"Database{construct_id}")
        return secret

    def _bootstrap(self, props: DatabaseProps) -> CustomResource:
        log_group = logs.LogGroup(
            self,
            "BootstrapLogs",
            retention=props.log_retention,
            encryption_key=props.log_encryption_key,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        role = iam.Role(
            self,
            "BootstrapRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Aurora bootstrap: writes its own log group, reads and sets the consumer logins.",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            "BootstrapFunction",
            runtime=BOOTSTRAP_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.on_event",
            code=lambda_.Code.from_asset(str(BOOTSTRAP_CODE), exclude=["__pycache__", "*.pyc"]),
            timeout=Duration.minutes(5),
            memory_size=256,
            description="Creates each consumer's database, login role and grants (idempotent).",
            role=role,
            log_group=log_group,
            reserved_concurrent_executions=props.bootstrap_reserved_concurrency,
        )
        cfn_cluster = self.cluster.node.default_child
        assert isinstance(cfn_cluster, rds.CfnDBCluster)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["rds-data:ExecuteStatement", "rds-data:BatchExecuteStatement"],
                resources=[self.cluster.cluster_arn],
            )
        )
        self.master_secret.grant_read(function)
        self.key.grant_decrypt(function)
        for secret in self.consumer_secrets.values():
            secret.grant_read(function)
            secret.grant_write(function)

        provider = cr.Provider(self, "BootstrapProvider", on_event_handler=function)
        resource = CustomResource(
            self,
            "Bootstrap",
            service_token=provider.service_token,
            resource_type="Custom::AuroraBootstrap",
            properties={
                "ClusterArn": self.cluster.cluster_arn,
                "MasterSecretArn": cfn_cluster.attr_master_user_secret_secret_arn,
                "Host": self.cluster.cluster_endpoint.hostname,
                "Port": self.cluster.cluster_endpoint.port,
                "Consumers": [
                    {"Name": name, "Database": name, "Username": name, "SecretArn": secret.secret_arn}
                    for name, secret in self.consumer_secrets.items()
                ],
            },
        )
        resource.node.add_dependency(
            *(c for c in self.cluster.node.find_all() if isinstance(c, rds.CfnDBInstance))
        )
        return resource

    def _rotation(self, props: DatabaseProps) -> lambda_.Function:
        """The consumer logins' rotation function and one schedule per consumer secret.

        The function reaches Aurora as the bootstrap does (Data API as the master user, no VPC) and
        ships in the same asset, importing the bootstrap's SQL. Secrets Manager may invoke it for
        every consumer at once, so its reserved concurrency is the number of consumers.
        """
        stack = Stack.of(self)
        cfn_cluster = self.cluster.node.default_child
        assert isinstance(cfn_cluster, rds.CfnDBCluster)
        log_group = logs.LogGroup(
            self,
            "RotationLogs",
            retention=props.log_retention,
            encryption_key=props.log_encryption_key,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        role = iam.Role(
            self,
            "RotationRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Aurora consumer-login rotation: writes its own log group, rotates consumer secrets.",
        )
        log_group.grant_write(role)
        check_prefix = f"{props.secret_name_prefix}/{ROTATION_CHECK_PREFIX}/"
        function = lambda_.Function(
            self,
            "RotationFunction",
            runtime=BOOTSTRAP_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="rotation.on_rotate",
            code=lambda_.Code.from_asset(str(BOOTSTRAP_CODE), exclude=["__pycache__", "*.pyc"]),
            timeout=Duration.minutes(5),
            memory_size=256,
            description="Rotates the Aurora consumer logins (alternating users).",
            role=role,
            log_group=log_group,
            reserved_concurrent_executions=props.rotation_reserved_concurrency,
            environment={
                "CLUSTER_ARN": self.cluster.cluster_arn,
                "MASTER_SECRET_ARN": cfn_cluster.attr_master_user_secret_secret_arn,
                "KMS_KEY_ID": self.key.key_arn,
                "CHECK_SECRET_PREFIX": check_prefix,
                "CONSUMERS": stack.to_json_string(
                    [
                        {"SecretArn": secret.secret_arn, "Name": name, "Database": name, "Username": name}
                        for name, secret in self.consumer_secrets.items()
                    ]
                ),
            },
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["rds-data:ExecuteStatement"], resources=[self.cluster.cluster_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ShortLivedLoginChecks",
                actions=[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DeleteSecret",
                ],
                resources=[
                    stack.format_arn(
                        service="secretsmanager",
                        resource="secret",
                        resource_name=f"{check_prefix}*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="GeneratePasswords", actions=["secretsmanager:GetRandomPassword"], resources=["*"]
            )
        )
        self.master_secret.grant_read(function)
        # Decrypt reads the secrets; GenerateDataKey encrypts testSecret's short-lived secret, which
        # Secrets Manager asks KMS for on the caller's behalf when the secret uses this key.
        self.key.grant(function, "kms:Decrypt", "kms:GenerateDataKey")
        for name, secret in self.consumer_secrets.items():
            secret.grant_read(function)
            secret.grant_write(function)
            permission_id = f"{name.capitalize()}RotationInvoke"
            function.add_permission(
                permission_id,
                principal=iam.ServicePrincipal("secretsmanager.amazonaws.com"),
                action="lambda:InvokeFunction",
                source_account=stack.account,
                source_arn=secret.secret_arn,
            )
            schedule = secretsmanager.CfnRotationSchedule(
                self,
                f"{name.capitalize()}Rotation",
                secret_id=secret.secret_arn,
                rotation_lambda_arn=function.function_arn,
                rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                    automatically_after_days=int(props.consumer_rotation.to_seconds() // 86400)
                ),
                rotate_immediately_on_update=False,
            )
            # Secrets Manager checks that it may invoke the function, and the function needs its
            # policy and the consumers' databases, before a schedule is accepted.
            schedule.node.add_dependency(self.bootstrap)
            for dependency in (
                function.node.try_find_child(permission_id),
                role.node.try_find_child("DefaultPolicy"),
            ):
                if dependency is not None:
                    schedule.node.add_dependency(dependency)
        return function
