"""The root stack of one environment: it composes the modules and wires them together."""

from __future__ import annotations

from datetime import UTC

from aws_cdk import CfnOutput, Duration, Environment, Stack, Token
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.aws_facts import aurora_postgres_max_connections
from infra.config import CpuArchitecture, EnvConfig
from infra.contract import Contract
from infra.modules.apps.backstage.construct import Backstage, BackstageProps
from infra.modules.apps.ork_processor.construct import OrkCode, OrkProcessor, OrkProcessorProps
from infra.modules.apps.prefect.construct import Prefect, PrefectProps
from infra.modules.core.ecs_cluster.construct import EcsCluster, EcsClusterProps
from infra.modules.core.edge.construct import Edge, EdgeProps
from infra.modules.core.iam_ci.construct import CiIdentities, CiIdentitiesProps
from infra.modules.core.iam_runtime.construct import RuntimeRoles, RuntimeRolesProps
from infra.modules.core.log_encryption.construct import LogEncryption
from infra.modules.core.network.construct import Network, NetworkProps
from infra.modules.core.observability.construct import AppSurface, Observability, ObservabilityProps
from infra.modules.core.rds.construct import ClusterRestore, Database, DatabaseProps
from infra.modules.core.s3_data.construct import DataBucket, S3Data, S3DataProps
from infra.modules.core.secrets.construct import ExternalSecrets, SecretsProps
from infra.ownership import component_tags
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


_PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for a number of days (validated in `infra.config`)."""
    return _RETENTION[days]


def cpu_architecture(architecture: CpuArchitecture) -> ecs.CpuArchitecture:
    """The Fargate CPU architecture of a configured one."""
    return {
        CpuArchitecture.X86_64: ecs.CpuArchitecture.X86_64,
        CpuArchitecture.ARM64: ecs.CpuArchitecture.ARM64,
    }[architecture]


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
        self.log_encryption = LogEncryption(self, "LogEncryption")
        logs_key = self.log_encryption.key
        self.network = Network(
            self,
            "Network",
            props=NetworkProps(
                zone_ids=config.zone_ids,
                cidr=config.network.cidr,
                nat_gateways=config.network.nat_gateways,
                flow_log_retention=retention(config.network.flow_log_retention_days),
                log_encryption_key=logs_key,
            ),
        )
        self.data = S3Data(
            self,
            "Data",
            props=S3DataProps(
                name_prefix=f"rocketclub-{config.name}-{config.account_id}",
                cached_expiration=Duration.days(config.buckets.cached_expiration_days),
                noncurrent_version_expiration=Duration.days(
                    config.buckets.noncurrent_version_expiration_days
                ),
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
                log_encryption_key=logs_key,
                consumer_rotation=Duration.days(config.aurora.consumer_rotation_days),
                bootstrap_reserved_concurrency=config.lambda_concurrency.aurora_bootstrap or None,
                rotation_reserved_concurrency=config.lambda_concurrency.aurora_rotation or None,
                restore=cluster_restore(config),
            ),
        )
        self.secrets = ExternalSecrets(
            self, "Secrets", props=SecretsProps(name_prefix=f"blog/{config.name}/external")
        )
        self.compute = EcsCluster(
            self,
            "Compute",
            props=EcsClusterProps(vpc=self.network.vpc, namespace=f"blog-{config.name}.internal"),
        )
        self.runtime_roles = RuntimeRoles(
            self,
            "RuntimeRoles",
            props=RuntimeRolesProps(
                cluster=self.compute.cluster,
                role_name_prefix=config.stack_name,
                ork_processor_log_group_name=None,
            ),
        )
        self.ci = CiIdentities(
            self,
            "Ci",
            props=CiIdentitiesProps(
                circleci_org_id=config.circleci.org_id,
                circleci_project_id=config.circleci.project_id,
                main_branch=config.circleci.main_branch,
                vercel_team_slug=config.vercel.team_slug,
                vercel_project=config.vercel.project,
                vercel_environment=config.vercel.environment,
                frontend_read=((self.data.design_files, FRONTEND_PREFIX),),
                verified_buckets=tuple(self.data.buckets.values()),
                role_name_prefix=config.stack_name,
            ),
        )
        self.edge = Edge(
            self,
            "Edge",
            props=EdgeProps(
                vpc=self.network.vpc,
                subnets=self.network.application_subnets,
                domain=config.domain,
                hostnames=(config.portal_host, config.pipelines_host),
                cloudfront_prefix_list_id=config.edge.cloudfront_prefix_list_id,
                certificate_arn=config.edge.certificate_arn,
                deletion_protection=config.edge.deletion_protection,
                log_retention=Duration.days(config.edge.access_log_retention_days),
                price_class=_PRICE_CLASSES[config.edge.price_class],
                origin_secret_key=self.secrets.key,
                origin_secret_name=f"blog/{config.name}/edge/origin-verify",
                origin_secret_version=config.edge.origin_secret_version,
                accept_previous_origin_value=config.edge.accept_previous_origin_value,
            ),
        )
        self.ci.verify_bucket_configuration(
            self.data.access_log_bucket, self.edge.cloudfront_log_bucket, self.edge.load_balancer_log_bucket
        )
        self.backstage = Backstage(
            self,
            "Backstage",
            props=BackstageProps(
                vpc=self.network.vpc,
                subnets=self.network.application_subnets,
                cluster=self.compute.cluster,
                task_role=self.runtime_roles.backstage_task,
                image_tag=config.backstage.image_tag,
                allow_latest=config.is_emulated,
                base_url=f"https://{config.portal_host}",
                database_secret=self.database.consumer_secrets["backstage"],
                secret_name_prefix=f"blog/{config.name}/apps",
                secrets_encryption_key=self.secrets.key,
                cpu=config.backstage.scaling.cpu,
                memory_mib=config.backstage.scaling.memory_mib,
                cpu_architecture=cpu_architecture(config.backstage.cpu_architecture),
                github_secrets=config.backstage.github_secrets,
                spot=config.backstage.scaling.spot,
                desired_count=config.backstage.scaling.min_capacity,
                waiting_for_image="backstage" in config.waiting_for_images,
                min_capacity=config.backstage.scaling.min_capacity,
                max_capacity=config.backstage.scaling.max_capacity,
                log_retention=retention(config.log_retention_days),
                log_encryption_key=logs_key,
            ),
        )
        database_max_connections = aurora_postgres_max_connections(
            config.aurora.min_capacity, config.aurora.max_capacity
        )
        self.prefect = Prefect(
            self,
            "Prefect",
            props=PrefectProps(
                vpc=self.network.vpc,
                subnets=self.network.application_subnets,
                cluster=self.compute.cluster,
                namespace=self.compute.namespace,
                server_task_role=self.runtime_roles.prefect_server_task,
                worker_task_role=self.runtime_roles.prefect_worker_task,
                flow_run_task_role=self.runtime_roles.flow_run_task,
                flow_run_execution_role=self.runtime_roles.flow_run_execution,
                public_url=f"https://{config.pipelines_host}",
                waiting_for_image="prefect" in config.waiting_for_images,
                database_secret=self.database.consumer_secrets["prefect"],
                secret_name_prefix=f"blog/{config.name}/apps",
                secrets_encryption_key=self.secrets.key,
                work_pool_name=config.prefect.work_pool,
                server_cpu=config.prefect.server.cpu,
                server_memory_mib=config.prefect.server.memory_mib,
                api_min_capacity=config.prefect.server.min_capacity,
                api_max_capacity=config.prefect.server.max_capacity,
                worker_count=config.prefect.workers,
                worker_cpu=config.prefect.worker_task.cpu,
                worker_memory_mib=config.prefect.worker_task.memory_mib,
                cpu_architecture=cpu_architecture(config.prefect.cpu_architecture),
                server_spot=config.prefect.server.spot,
                worker_spot=config.prefect.worker_task.spot,
                flow_run_spot=config.prefect.flow_run_spot,
                embedded_services=config.prefect.embedded_services,
                embedded_worker=config.prefect.embedded_worker,
                redis_replicas=config.prefect.redis_replicas,
                flow_run_retention=Duration.days(config.prefect.flow_run_retention_days),
                database_max_connections=database_max_connections,
                database_auto_pauses=config.aurora.min_capacity == 0,
                log_retention=retention(config.log_retention_days),
                log_encryption_key=logs_key,
            ),
        )
        ork = config.ork_processor
        self.ork_processor = OrkProcessor(
            self,
            "OrkProcessor",
            props=OrkProcessorProps(
                role=self.runtime_roles.ork_processor,
                design_files=self.data.design_files,
                clean=self.data.clean,
                secrets=(self.secrets.neo4j_aura, self.secrets.cloudinary),
                code=(
                    OrkCode.local_placeholder()
                    if ork.placeholder
                    else OrkCode.published(
                        s3.Bucket.from_bucket_name(self, "OrkArtifacts", str(ork.code_bucket)),
                        str(ork.code_key),
                        ork.code_version,
                    )
                ),
                handler=ork.handler,
                environment={
                    "NEO4J_SECRET_ARN": self.secrets.neo4j_aura.secret_arn,
                    "CLOUDINARY_SECRET_ARN": self.secrets.cloudinary.secret_arn,
                },
                reserved_concurrency=config.lambda_concurrency.ork_processor or None,
                log_retention=retention(config.log_retention_days),
                log_encryption_key=logs_key,
            ),
        )
        self._wire()
        self.observability = Observability(
            self,
            "Observability",
            props=ObservabilityProps(
                name_prefix=config.stack_name,
                load_balancer=self.edge.load_balancer,
                distribution=self.edge.distribution,
                apps=(
                    AppSurface(
                        name="portal",
                        services=(("web", self.backstage.service),),
                        target_groups=(("web", self.backstage.target_group),),
                    ),
                    AppSurface(
                        name="pipelines",
                        services=tuple(
                            (name, service)
                            for name, service in (
                                ("api", self.prefect.api_service),
                                ("services", self.prefect.services_service),
                                ("worker", self.prefect.worker_service),
                            )
                            if service is not None
                        ),
                        target_groups=(("api", self.prefect.target_group),),
                    ),
                ),
                database=self.database.cluster,
                database_max_capacity=config.aurora.max_capacity,
                database_max_connections=database_max_connections,
                broker=self.prefect.redis,
                broker_nodes=1 + config.prefect.redis_replicas,
                late_runs_log_group=self.prefect.log_group,
                late_runs_filter_pattern=self.prefect.late_runs_filter_pattern,
                database_rotation=self.database.rotation_function,
                ork_processor=self.ork_processor,
                dashboard=config.observability.dashboard,
            ),
        )

        self._grant_images()
        self.contract = Contract(
            self,
            "Contract",
            ssm_prefix=config.ssm_prefix,
            readers={
                "blog_data": (self.runtime_roles.flow_run_task,),
                "blog_portal": (self.runtime_roles.backstage_task,),
                "blog_code": (self.ci.frontend_role,),
            },
        )
        self._publish_contract()
        self._publish_own_outputs()

        tag_stack(
            self,
            {
                "owner": config.owner,
                "environment": config.name,
                "repository": config.repository,
                **config.tags,
            },
            component_tags(
                self.log_encryption,
                self.network,
                self.data,
                self.database,
                self.secrets,
                self.compute,
                self.runtime_roles,
                self.ci,
                self.edge,
                self.backstage,
                self.prefect,
                self.ork_processor,
                self.observability,
                self.contract,
            ),
        )

    def _wire(self) -> None:
        """Routes, network paths and data grants between the modules."""
        edge, backstage, prefect, database, data = (
            self.edge,
            self.backstage,
            self.prefect,
            self.database,
            self.data,
        )
        roles = self.runtime_roles

        edge.add_host_route(host=self.config.portal_host, target_group=backstage.target_group, priority=10)
        edge.add_host_route(host=self.config.pipelines_host, target_group=prefect.target_group, priority=20)
        backstage.connections.allow_from(edge.load_balancer, ec2.Port.tcp(backstage.port), "ALB to Backstage")
        prefect.connections.allow_from(edge.load_balancer, ec2.Port.tcp(prefect.port), "ALB to Prefect API")

        database.cluster.connections.allow_default_port_from(backstage.connections, "Backstage to Aurora")
        for client in prefect.database_clients:
            database.cluster.connections.allow_default_port_from(client, "Prefect server to Aurora")
        database.cluster.connections.allow_default_port_from(
            prefect.flow_run_security_group, "Flow runs to Aurora"
        )
        for service in (backstage.service, prefect.api_service, prefect.services_service):
            if service is not None:
                service.node.add_dependency(database.bootstrap)

        prefect.auth_secret.grant_read(roles.flow_run_execution)
        prefect.flow_run_log_group.grant_write(roles.flow_run_execution)
        prefect.flow_run_log_group.grant(roles.prefect_worker_task, "logs:GetLogEvents")
        prefect.observer_queue.grant_consume_messages(roles.prefect_worker_task)

        for bucket in (data.cached, data.raw, data.clean):
            bucket.grant_read_write(roles.flow_run_task)
        data.design_files.grant_read(roles.flow_run_task)
        for secret in (
            self.secrets.neo4j_aura,
            self.secrets.cloudinary,
            database.consumer_secrets["pipelines"],
            # The contract hands blog_data its ARN; flows already hold the value (ECS injects it as
            # PREFECT_API_AUTH_STRING), so reading it by ARN exposes nothing new.
            prefect.auth_secret,
        ):
            secret.grant_read(roles.flow_run_task)
        # Backstage reads its rotated login by the ARN the contract hands blog_portal (ECS injects it
        # only at task start).
        database.consumer_secrets["backstage"].grant_read(roles.backstage_task)
        for secret in (self.secrets.frontend_neo4j_aura, self.secrets.frontend_cloudinary):
            secret.grant_read(self.ci.frontend_role)

    def _grant_images(self) -> None:
        """CI reads whether the services' images are in ECR (plan and deploy: `blog-infra images status`,
        a deploy's waiting services); the deploy role pushes the Prefect image (`blog-infra images push`)."""
        for repository in (self.backstage.repository, self.prefect.repository):
            for role in (self.ci.plan_role, self.ci.deploy_role):
                repository.grant(role, "ecr:DescribeImages")
        self.prefect.repository.grant_push(self.ci.deploy_role)

    def _publish_own_outputs(self) -> None:
        """Outputs this repository's own pipeline reads (not part of the consumer contract)."""
        CfnOutput(
            self,
            "PrefectImageRepositoryUri",
            value=self.prefect.repository.repository_uri,
            description="ECR repository the pipeline pushes the Prefect image (images/prefect) to.",
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
                consumers=("blog_data", "blog_code")
                if purpose is DataBucket.DESIGN_FILES
                else ("blog_data",),
                object_prefixes=(("blog_code", FRONTEND_PREFIX),)
                if purpose is DataBucket.DESIGN_FILES
                else (),
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
                description=f"ARN of the {consumer} database login secret."
                + (
                    " The Prefect server's own login, read by its tasks; for operators."
                    if consumer == "prefect"
                    else ""
                ),
                consumers=_DATABASE_SECRET_CONSUMERS[consumer],
            )
        publish(
            "secrets/neo4j-aura",
            self.secrets.neo4j_aura.secret_arn,
            description="ARN of the Neo4j Aura connection secret (read-write: the pipelines).",
            consumers=("blog_data",),
        )
        publish(
            "compute/cluster-arn",
            self.compute.cluster.cluster_arn,
            description="ARN of the ECS cluster that runs the services and Prefect flow runs.",
            consumers=("blog_data",),
        )
        publish(
            "portal/repository-uri",
            self.backstage.repository_uri,
            description="ECR repository blog_portal pushes the Backstage image to.",
            consumers=("blog_portal",),
        )
        publish(
            "portal/url",
            f"https://{self.config.portal_host}",
            description="Public URL of the portal.",
            consumers=("blog_portal",),
        )
        publish(
            "pipelines/url",
            f"https://{self.config.pipelines_host}/api",
            description="Public Prefect API URL (needs the Prefect auth string).",
            consumers=("blog_data",),
        )
        publish(
            "pipelines/internal-api-url",
            self.prefect.internal_api_url,
            description="Prefect API URL inside the VPC (workers and flow runs).",
            consumers=("blog_data",),
        )
        publish(
            "pipelines/auth-secret",
            self.prefect.auth_secret.secret_arn,
            description="ARN of the secret holding PREFECT_API_AUTH_STRING.",
            consumers=("blog_data",),
        )
        publish(
            "pipelines/work-pool",
            self.prefect.work_pool_name,
            description="Name of the Prefect ECS work pool.",
            consumers=("blog_data",),
        )
        publish(
            "pipelines/work-pool-job-variables",
            self.to_json_string(self.prefect.work_pool_job_variables),
            description="JSON job variables of the ECS work pool (cluster, network, roles, logs).",
            consumers=("blog_data",),
        )
        publish(
            "ork-processor/function-name",
            self.ork_processor.fn.function_name,
            description="Name of the ork processor Lambda (its code is deployed from blog_data).",
            consumers=("blog_data",),
        )
        publish(
            "ci/plan-role-arn",
            self.ci.plan_role.role_arn,
            description="Role CircleCI assumes through OIDC to plan (diff) on pull requests.",
            consumers=("blog_infra",),
        )
        publish(
            "ci/deploy-role-arn",
            self.ci.deploy_role.role_arn,
            description="Role CircleCI assumes through OIDC to deploy from main.",
            consumers=("blog_infra",),
        )
        publish(
            "frontend/role-arn",
            self.ci.frontend_role.role_arn,
            description="Read-only role the Vercel frontend assumes through OIDC.",
            consumers=("blog_code",),
        )
        publish(
            "secrets/cloudinary",
            self.secrets.cloudinary.secret_arn,
            description="ARN of the Cloudinary credentials secret (API secret included: the pipelines).",
            consumers=("blog_data",),
        )
        publish(
            "frontend/secrets/neo4j-aura",
            self.secrets.frontend_neo4j_aura.secret_arn,
            description="ARN of the public frontend's read-only Neo4j Aura login.",
            consumers=("blog_code",),
        )
        publish(
            "frontend/secrets/cloudinary",
            self.secrets.frontend_cloudinary.secret_arn,
            description="ARN of the public frontend's Cloudinary values (cloud name, API key; no secret).",
            consumers=("blog_code",),
        )


FRONTEND_PREFIX = "public/"
"""The only key prefix of the design-files bucket the public frontend reads."""
_DATABASE_SECRET_CONSUMERS: dict[str, tuple[str, ...]] = {
    "backstage": ("blog_portal",),
    "pipelines": ("blog_data",),
    "prefect": (),
}
"""Who reads each database login through the contract. The Prefect server's login is injected into
its own tasks by ECS; blog_data talks to the Prefect API and never needs it."""


def cluster_restore(config: EnvConfig) -> ClusterRestore | None:
    """The cluster's restore source recorded in the configuration (`blog-infra db restore`), if any."""
    aurora = config.aurora
    if aurora.restore_snapshot is None and aurora.restore_source_cluster is None:
        return None
    to_time = aurora.restore_to_time
    return ClusterRestore(
        snapshot=aurora.restore_snapshot,
        source_cluster=aurora.restore_source_cluster,
        to_time=to_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if to_time else None,
        latest=aurora.restore_latest,
    )
