"""The root stack of one environment: it composes the modules and wires them together."""

from __future__ import annotations

from aws_cdk import Duration, Environment, Stack, Token
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import EnvConfig
from infra.contract import Contract
from infra.modules.core.network.construct import Network, NetworkProps
from infra.modules.core.rds.construct import Database, DatabaseProps
from infra.modules.core.s3_data.construct import DataBucket, S3Data, S3DataProps
from infra.modules.core.secrets.construct import ExternalSecrets, SecretsProps
from infra.tagging import tag_stack


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for a number of days (validated in `infra.config`)."""
    return _RETENTION[days]


class PlatformStack(Stack):
    """The RocketClub blog platform in one environment."""

    def __init__(self, scope: Construct, *, config: EnvConfig) -> None:
        super().__init__(
            scope,
            config.stack_name,
            env=Environment(account=config.account_id, region=config.region),
            description=f"RocketClub blog platform ({config.name}), managed by blog_infra.",
            termination_protection=not config.is_emulated,
        )
        self.config = config
        self.network = Network(
            self,
            "Network",
            props=NetworkProps(
                availability_zones=tuple(
                    f"{config.region}{letter}" for letter in "abc"[: config.network.az_count]
                ),
                cidr=config.network.cidr,
                nat_gateways=config.network.nat_gateways,
                flow_log_retention=retention(config.network.flow_log_retention_days),
            ),
        )
        self.data = S3Data(
            self,
            "Data",
            props=S3DataProps(
                name_prefix=f"rocketclub-{config.name}-{config.account_id}",
                cached_expiration=Duration.days(config.buckets.cached_expiration_days),
                noncurrent_version_expiration=Duration.days(config.buckets.noncurrent_version_expiration_days),
                raw_infrequent_access_after=Duration.days(config.buckets.raw_infrequent_access_days),
            ),
        )
        self.database = Database(
            self,
            "Database",
            props=DatabaseProps(
                vpc=self.network.vpc,
                subnets=self.network.data_subnets,
                engine_version=config.aurora.engine_version,
                min_capacity=config.aurora.min_capacity,
                max_capacity=config.aurora.max_capacity,
                readers=config.aurora.readers,
                backup_retention=Duration.days(config.aurora.backup_retention_days),
                deletion_protection=config.aurora.deletion_protection,
                log_retention=retention(config.log_retention_days),
                secret_name_prefix=f"blog/{config.name}/database",
            ),
        )
        self.secrets = ExternalSecrets(
            self, "Secrets", props=SecretsProps(name_prefix=f"blog/{config.name}/external")
        )

        self.contract = Contract(self, "Contract", ssm_prefix=config.ssm_prefix)
        self._publish_contract()

        tag_stack(
            self,
            {"owner": config.owner, "environment": config.name, "repository": config.repository, **config.tags},
            {
                self.network: "network",
                self.data: "s3-data",
                self.database: "rds",
                self.secrets: "secrets",
                self.contract: "contract",
            },
        )


    def _publish_contract(self) -> None:
        publish = self.contract.publish
        vpc = self.network.vpc
        publish("network/vpc-id", vpc.vpc_id, description="VPC id.", consumers=("blog_data",))
        publish(
            "network/application-subnet-ids",
            ",".join(s.subnet_id for s in vpc.select_subnets(subnet_group_name=Network.APPLICATION).subnets),
            description="Comma-separated ids of the application subnets (ECS tasks, Lambda).",
            consumers=("blog_data",),
        )
        for purpose, bucket in self.data.buckets.items():
            publish(
                f"data/buckets/{purpose.value}",
                bucket.bucket_name,
                description=f"Name of the {purpose.value} data bucket.",
                consumers=("blog_data", "blog_code") if purpose is DataBucket.DESIGN_FILES else ("blog_data",),
            )
        publish(
            "database/endpoint",
            self.database.cluster.cluster_endpoint.hostname,
            description="Aurora writer endpoint.",
            consumers=("blog_portal", "blog_data"),
        )
        publish(
            "database/port",
            Token.as_string(self.database.cluster.cluster_endpoint.port),
            description="Aurora port.",
            consumers=("blog_portal", "blog_data"),
        )
        for consumer, secret in self.database.consumer_secrets.items():
            publish(
                f"database/secrets/{consumer}",
                secret.secret_arn,
                description=f"ARN of the {consumer} database login secret.",
                consumers=("blog_portal",) if consumer == "backstage" else ("blog_data",),
            )
        publish(
            "secrets/neo4j-aura",
            self.secrets.neo4j_aura.secret_arn,
            description="ARN of the Neo4j Aura connection secret.",
            consumers=("blog_data", "blog_code"),
        )
        publish(
            "secrets/cloudinary",
            self.secrets.cloudinary.secret_arn,
            description="ARN of the Cloudinary credentials secret.",
            consumers=("blog_data", "blog_code"),
        )
