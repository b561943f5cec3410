"""Self-hosted Prefect 3: API + UI, background services, ECS workers, and their Redis message broker.

The same module also builds the single-task topology of a small environment: the background services
inside the API process with Prefect's in-memory broker (no Redis), and the worker as a second
container of the API task (`embedded_services`, `embedded_worker`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import images
from infra.modules.apps import ecs_common
from infra.modules.stateful import pin_logical_id

DEFAULT_IMAGE_TAG = images.PREFECT_IMAGE.tag
"""The tag of the platform's Prefect image (`images/prefect/`: Prefect with prefect-aws), derived from
its Dockerfile; the pipeline builds and pushes it to this module's repository before a deploy."""
FLOW_RUN_FAMILY_PREFIX = "prefect"
"""prefect-aws names a flow run's task-definition family `prefect_<work pool>_<deployment id>`."""
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
PORT = 4200
HEALTH_PATH = "/api/health"
API_DISCOVERY_NAME = "prefect-api"
WORKER_HEALTH_PORT = 8080
REDIS_PORT = 6380
REDIS_ENGINE_VERSION = "7.1"
PREFECT_HOME = f"{ecs_common.SCRATCH_PATH}/prefect"
UI_STATIC_DIRECTORY = f"{PREFECT_HOME}/ui"
"""Where the API copies its UI bundles at start (the image's own directory is read-only)."""
DATABASE_CA_FILE = f"{PREFECT_HOME}/rds-ca-bundle.pem"
MIGRATED_MARKER = f"{PREFECT_HOME}/migrated"
DATABASE_SECRETS = {
    "PREFECT_SERVER_DATABASE_HOST": "host",
    "PREFECT_SERVER_DATABASE_PORT": "port",
    "PREFECT_SERVER_DATABASE_USER": "username",
    "PREFECT_SERVER_DATABASE_PASSWORD": "password",
    "PREFECT_SERVER_DATABASE_NAME": "dbname",
}
API_COMMAND = f"prefect server start --host 0.0.0.0 --port {PORT} --no-services"
EMBEDDED_SERVICES_COMMAND = f"prefect server start --host 0.0.0.0 --port {PORT}"
MIGRATION_COMMAND = "prefect server database upgrade -y"
LOCAL_API_URL = f"http://localhost:{PORT}/api"
"""How a container of the API task reaches the API: the task's containers share one network namespace."""
MIN_EMBEDDED_CONTAINER_MEMORY_MIB = 512
"""With `embedded_worker`, the least memory each of the API and worker containers gets of the task."""
SERVICES_COMMAND = "prefect server services start"
JOB_VARIABLES_VARIABLE = "BLOG_WORK_POOL_JOB_VARIABLES"
APPLY_JOB_VARIABLES = (
    "import asyncio, json, os, sys\n"
    "from prefect.client.orchestration import get_client\n"
    "from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate\n"
    "from prefect.exceptions import ObjectNotFound\n"
    "from prefect_aws.workers.ecs_worker import ECSWorker\n"
    "async def main(pool):\n"
    "    template = ECSWorker.get_default_base_job_template()\n"
    f"    for key, value in json.loads(os.environ['{JOB_VARIABLES_VARIABLE}']).items():\n"
    "        template['variables']['properties'][key]['default'] = value\n"
    "    async with get_client() as client:\n"
    "        try:\n"
    "            await client.update_work_pool(pool, WorkPoolUpdate(base_job_template=template))\n"
    "        except ObjectNotFound:\n"
    "            pool_create = WorkPoolCreate(name=pool, type='ecs', base_job_template=template)\n"
    "            await client.create_work_pool(pool_create)\n"
    "asyncio.run(main(sys.argv[1]))\n"
)
"""Makes the published job variables the defaults of the work pool's base job template: prefect-aws's
own default template (`ECSWorker.get_default_base_job_template`, prefect_aws/workers/ecs_worker.py),
each variable's `default` set, the pool updated, or created as the worker would create it. A flow
run then gets the cluster, network, roles and logs from the pool, and a deployment names only what
is its own (image, environment). Run by the worker before it starts, so the pool follows every
deploy of the stack."""
WORKER_START = (
    'python -c "$BLOG_APPLY_JOB_VARIABLES" "$1" && '
    'exec prefect worker start --pool "$1" --type ecs --with-healthcheck'
)
"""The worker container's command (`sh -c WORKER_START worker <pool>`): apply the job variables to the
pool, then become the worker (exec: tini's child, signals reach it)."""

LATE_RUN_LOG_TERM = "mark_flow_run_late"
"""What the late-runs signal counts. Prefect's MarkLateRuns service logs nothing itself: it schedules one
Docket task `mark_flow_run_late` per late run (prefect/server/services/late_runs.py:85), and Docket's
worker logs each execution at INFO, `↪ [<punctuality>] mark_flow_run_late(flow_run_id=...)` and
`↩ [<duration>] ...` (docket/worker.py:1070 and :1178). Prefect's logging.yml leaves third-party
loggers at the root's WARNING, so the process that runs the services raises `docket.worker` to INFO
(`LOGGING_STEP`)."""
LOGGING_STEP = (
    "python -c 'import sys, yaml, prefect.logging.configuration as c; "
    "d = yaml.safe_load(c.DEFAULT_LOGGING_SETTINGS_PATH.read_text()); "
    'd["loggers"]["docket.worker"] = {"level": "INFO"}; '
    'open(sys.argv[1], "w").write(yaml.safe_dump(d))\' "$PREFECT_HOME/logging.yml"'
)
"""Writes Prefect's own logging.yml, plus `docket.worker` at INFO, to `$PREFECT_HOME/logging.yml`, the file
Prefect reads when present (LoggingSettings.config_path, prefect/settings/models/logging.py:103, defaults
to $PREFECT_HOME/logging.yml): no other setting changes. Costs a few Docket lines a minute in the log
group."""
_WORK_POOL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_FAMILY_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
STOP_TIMEOUT_SECONDS = 30
API_KEEPALIVE_TIMEOUT_SECONDS = 65
"""uvicorn's keep-alive (`PREFECT_SERVER_API_KEEPALIVE_TIMEOUT`, ServerAPISettings.keepalive_timeout,
prefect/settings/models/server/api.py:50, default 5: "When the API is hosted behind a load balancer, you
may want to set this to a value greater than the load balancer's idle timeout"). The shared ALB keeps its
default idle timeout of 60 s (infra/modules/core/edge sets none), so 5 s closes connections the ALB still
reuses: intermittent 502s."""
DATABASE_RESUME_CONNECTION_TIMEOUT_SECONDS = 45
"""Connection timeout (`PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT`,
ServerDatabaseSettings.connection_timeout, prefect/settings/models/server/database.py:273, default 5)
when the database auto-pauses: Aurora Serverless v2 resumes a paused instance in about 15 s, and about
30 s after a pause of more than a day (Aurora User Guide, "Scaling to Zero ACUs with automatic pause and
resume", https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html,
as summarised in AWS's own aws/agent-toolkit-for-aws serverless-advisory-concepts.md; docs/cost.md's
"~15 s" is the same figure); 45 s covers both."""
DEFAULT_FLOW_RUN_RETENTION = Duration.days(90)
"""Prefect's own default (ServerServicesDBVacuumSettings.retention_period,
prefect/settings/models/server/services.py:144) and the platform's log retention (three months): a run's
database records go when its CloudWatch logs do."""
CLEANUP_QUEUE_STORAGE = "prefect_redis.cleanup_queue"
"""prefect-redis's `WorkerCleanupQueue` (prefect_redis/cleanup_queue.py:144); it reads its own connection
settings, `RedisWorkerCleanupQueueSettings` (cleanup_queue.py:74, env prefix
PREFECT_REDIS_WORKER_CLEANUP_QUEUE_), not the messaging ones."""
DATABASE_CONNECTION_SHARE = 0.5
"""Of the database's max_connections, the most the Prefect server processes may hold together; the rest is
the flow runs' (blog_data connects directly), the portal's, the bootstrap and rotation functions' and
psql sessions'."""
POOL_TARGETS: dict[str, tuple[int, int]] = {"api": (10, 20), "services": (15, 25), "embedded": (15, 25)}
"""`(pool_size, max_overflow)` each kind of server process aims for before the budget is applied. Prefect's
default is 5 + 10 (SQLAlchemySettings.pool_size / max_overflow, settings/models/server/database.py:114/134);
the services process shares its pool among the event persister, the task-run recorder, the triggers and
Docket's perpetual services, and the embedded API adds the API's requests to those."""


def _http_probe(url: str) -> list[str]:
    """A container health check that needs only the image's Python (no curl or wget)."""
    code = f"import sys, urllib.request; sys.exit(urllib.request.urlopen('{url}', timeout=4).status != 200)"
    return ["CMD", "python", "-c", code]


@dataclass(frozen=True, kw_only=True)
class PrefectProps:
    """Inputs of the Prefect module."""

    vpc: ec2.IVpc
    """VPC of the services, the target group and the Redis broker."""
    subnets: ec2.SubnetSelection
    """Private application subnets of the tasks, the flow runs and the Redis broker."""
    cluster: ecs.ICluster
    """The shared Fargate cluster; flow runs start in it too."""
    namespace: servicediscovery.INamespace
    """Private DNS namespace in which the API registers as `prefect-api`."""
    server_task_role: iam.IRole
    """Role of the API and background-services tasks (with `embedded_worker`, of the background-services
    task only: the API task runs as `worker_task_role`)."""
    worker_task_role: iam.IRole
    """Role of the worker tasks: registers task definitions, runs flow runs, passes the flow-run roles."""
    flow_run_task_role: iam.IRole
    """Role the flow runs (blog_data's code) run as."""
    flow_run_execution_role: iam.IRole
    """Execution role of the flow-run tasks: pulls images, reads the auth secret, writes logs."""
    image_tag: str = DEFAULT_IMAGE_TAG
    """Tag of the Prefect image in this module's ECR repository, run by the API, the background services
    and the worker alike (so the worker's Prefect is the server's); it must already contain prefect-aws
    (nothing is installed at start)."""
    untagged_image_expiry: Duration = ecs_common.UNTAGGED_IMAGE_EXPIRY
    """Untagged images in the repository expire after this long."""
    image_retention_count: int = 10
    """Most tagged images the repository keeps (the newest)."""
    waiting_for_image: bool = False
    """Create every service at zero tasks, autoscaling held at zero, until the image is in the
    repository (a first deploy creates the repository, so the pipeline can push only after it)."""
    flow_run_family_prefix: str = FLOW_RUN_FAMILY_PREFIX
    """Task-definition families of the flow runs start with this; the ECS observer hears their tasks."""
    public_url: str
    """Public origin of the UI and API, e.g. `https://pipelines.rocketclub.online`."""
    database_secret: secretsmanager.ISecret
    """The prefect database login; JSON keys host, port, username, password, dbname."""
    database_ca_bundle_url: str = RDS_CA_BUNDLE_URL
    """HTTPS address of the RDS CA bundle the server verifies the database's certificate against."""
    secret_name_prefix: str
    """Secrets are named `<secret_name_prefix>/prefect-auth` and (with Redis)
    `<secret_name_prefix>/prefect-redis`."""
    secrets_encryption_key: kms.IKey | None = None
    """Customer-managed KMS key that encrypts both secrets; None: the AWS-managed Secrets Manager key."""
    work_pool_name: str = "blog-ecs"
    """ECS work pool the workers poll (created by the first worker if missing)."""
    server_cpu: int = 1024
    """CPU units of an API task and of the background-services task."""
    server_memory_mib: int = 2048
    """Memory of an API task and of the background-services task, in MiB."""
    api_min_capacity: int = 1
    """Fewest API tasks."""
    api_max_capacity: int = 2
    """Most API tasks; autoscaling on CPU moves between the bounds."""
    api_cpu_target_percent: int = 70
    """Average CPU utilisation the API's autoscaling aims for."""
    worker_count: int = 1
    """Worker tasks polling the work pool; 0 stops flow runs from starting."""
    worker_cpu: int = 512
    """CPU units of a worker task (unused with `embedded_worker`: the worker shares the API task's CPU)."""
    worker_memory_mib: int = 2048
    """Memory of a worker task, in MiB; with `embedded_worker`, the worker container's share of
    `server_memory_mib`."""
    cpu_architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.X86_64
    """CPU architecture of the server and worker tasks; the official Prefect image is multi-arch, so ARM64
    (Graviton, about 20% cheaper) needs no other change."""
    server_spot: bool = False
    """Run the API (with `embedded_worker`, the worker in it) and background-services tasks on Fargate Spot:
    a task may be stopped with two minutes' notice and its service starts a replacement."""
    worker_spot: bool = False
    """Run the worker tasks on Fargate Spot; a stopped worker's flow runs keep running, a replacement
    picks up new ones. Not with `embedded_worker` (use `server_spot`)."""
    flow_run_spot: bool = False
    """Start flow runs on Fargate Spot (the work pool's `launch_type` becomes `FARGATE_SPOT`); an interrupted
    flow run fails and Prefect's retries apply."""
    embedded_services: bool = False
    """Run the background services inside the API process with Prefect's in-memory broker: no
    background-services task, no Redis and no Redis secret; the API migrates the database before it
    starts. Needs `api_max_capacity = 1` (the broker and the services' loops are per process)."""
    embedded_worker: bool = False
    """Run the worker as a second container of the API task (`worker_memory_mib` of `server_memory_mib`)
    instead of its own service. The API task then runs as `worker_task_role`. Needs `worker_count = 1` and
    `api_max_capacity = 1`."""
    redis_node_type: str = "cache.t4g.micro"
    """ElastiCache node type of the message broker."""
    redis_replicas: int = 0
    """Broker replicas besides the primary; one or more enables Multi-AZ fail-over."""
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
    """How long the server's, the workers' and the flow runs' logs are kept."""
    log_encryption_key: kms.IKey | None = None
    """KMS key that encrypts the server's and the flow runs' log groups; None: CloudWatch's own key."""
    database_max_connections: int = 823
    """The database's `max_connections` (Aurora's default for the configured capacity, from
    `aurora_postgres_max_connections` in `infra.aws_facts`; 823 is Aurora PostgreSQL's at 4 ACU). The
    server processes' pools are sized so that together they hold at most `DATABASE_CONNECTION_SHARE` of
    it."""
    database_auto_pauses: bool = False
    """The database pauses when idle (Aurora Serverless v2 at 0 ACU minimum): the servers wait up to
    `DATABASE_RESUME_CONNECTION_TIMEOUT_SECONDS` for a connection instead of Prefect's 5 s."""
    flow_run_retention: Duration = DEFAULT_FLOW_RUN_RETENTION
    """The database vacuum deletes flow runs (with their task runs, states, logs and artifacts) this long
    after they ended; at least one hour (Prefect refuses less)."""


@dataclass(frozen=True)
class DatabasePool:
    """The connection pool of one kind of Prefect server process."""

    application_name: str
    """What its connections report as `application_name` in `pg_stat_activity`."""
    processes: int
    """How many such processes may run at once (the API's autoscaling maximum, or 1)."""
    pool_size: int
    """`PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE`: connections kept open."""
    max_overflow: int
    """`PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW`: connections opened beyond it under load."""

    @property
    def per_process(self) -> int:
        """The most connections one process holds."""
        return self.pool_size + self.max_overflow

    @property
    def total(self) -> int:
        """The most connections all such processes hold."""
        return self.per_process * self.processes


def database_pools(props: PrefectProps) -> tuple[DatabasePool, ...]:
    """The pools of the server processes `props` runs, sized from the database's max_connections: each
    kind aims for `POOL_TARGETS`, and all are scaled down together when they would hold more than
    `DATABASE_CONNECTION_SHARE` of `database_max_connections` at the API's maximum scale.

    Assumes one SQLAlchemy engine per process (Prefect caches its engine per event loop and the server runs
    one). The short migration (`prefect server database upgrade`) before a process starts is not counted.
    E.g. prod (8 ACU: 1,669 connections, budget 834) with 2 API tasks and the services task: 2 x 30 + 40 =
    100 connections, 6 % of max_connections."""
    if props.embedded_services:
        kinds = [("embedded", "prefect-server", 1)]
    else:
        kinds = [("api", "prefect-api", props.api_max_capacity), ("services", "prefect-services", 1)]
    budget = int(props.database_max_connections * DATABASE_CONNECTION_SHARE)
    wanted = sum(sum(POOL_TARGETS[kind]) * processes for kind, _, processes in kinds)
    scale = min(1.0, budget / wanted)
    pools = tuple(
        DatabasePool(
            application_name=name,
            processes=processes,
            pool_size=max(1, int(POOL_TARGETS[kind][0] * scale)),
            max_overflow=int(POOL_TARGETS[kind][1] * scale),
        )
        for kind, name, processes in kinds
    )
    return pools


class Prefect(Construct):
    """Prefect 3 on Fargate: the API + UI behind a target group of the shared load balancer and in
    Cloud Map, the background services (which also migrate the database) as a single task, the ECS
    workers, a TLS + AUTH Redis for events and leases, and the flow runs' network and logs; or, embedded,
    one API task that runs the services and the worker too."""

    def __init__(self, scope: Construct, id: str, *, props: PrefectProps) -> None:
        super().__init__(scope, id)
        self._validate(props)
        self.port = PORT
        self.work_pool_name = props.work_pool_name
        self.internal_api_url = f"http://{API_DISCOVERY_NAME}.{props.namespace.namespace_name}:{PORT}/api"
        self.embedded_services = props.embedded_services
        self.embedded_worker = props.embedded_worker
        self.database_pools = database_pools(props)
        """The server processes' connection pools (`database_pools`), for the docs and the load test."""
        pools = {pool.application_name: pool for pool in self.database_pools}
        self.repository = ecs_common.image_repository(
            self,
            "ImageRepository",
            logical_id="PrefectImageRepository",
            untagged_image_expiry=props.untagged_image_expiry,
            retention_count=props.image_retention_count,
        )

        self.auth_secret = self._secret(
            "AuthSecret",
            name=f"{props.secret_name_prefix}/prefect-auth",
            description="Prefect server basic-auth string; clients send it as PREFECT_API_AUTH_STRING.",
            length=48,
            logical_id="PrefectAuthSecret",
            key=props.secrets_encryption_key,
        )
        self.redis_auth_secret: secretsmanager.Secret | None = None
        if not props.embedded_services:
            self.redis_auth_secret = self._secret(
                "RedisAuthSecret",
                name=f"{props.secret_name_prefix}/prefect-redis",
                description="AUTH token of the Prefect server's Redis message broker.",
                length=64,
                logical_id="PrefectRedisAuthSecret",
                key=props.secrets_encryption_key,
            )

        self.api_security_group = ecs_common.security_group(
            self, "ApiSecurityGroup", vpc=props.vpc, description="Prefect API and UI tasks"
        )
        self.services_security_group: ec2.SecurityGroup | None = None
        if not props.embedded_services:
            self.services_security_group = ecs_common.security_group(
                self, "ServicesSecurityGroup", vpc=props.vpc, description="Prefect background-services task"
            )
        self.worker_security_group: ec2.SecurityGroup | None = None
        if not props.embedded_worker:
            self.worker_security_group = ecs_common.security_group(
                self, "WorkerSecurityGroup", vpc=props.vpc, description="Prefect ECS worker tasks"
            )
        self.flow_run_security_group = ecs_common.security_group(
            self, "FlowRunSecurityGroup", vpc=props.vpc, description="Prefect flow-run tasks"
        )
        self.redis_security_group: ec2.SecurityGroup | None = None
        if not props.embedded_services:
            self.redis_security_group = ec2.SecurityGroup(
                self,
                "RedisSecurityGroup",
                vpc=props.vpc,
                description="Prefect Redis message broker",
                allow_all_outbound=False,
            )
        for client, name in (
            (self.worker_security_group, "workers"),
            (self.flow_run_security_group, "flow runs"),
            (self.services_security_group, "background services"),
        ):
            if client is not None:
                self.api_security_group.add_ingress_rule(
                    client, ec2.Port.tcp(PORT), f"Prefect API from {name}"
                )
        if self.redis_security_group is not None and self.services_security_group is not None:
            for client, name in (
                (self.api_security_group, "API"),
                (self.services_security_group, "services"),
            ):
                self.redis_security_group.add_ingress_rule(
                    client, ec2.Port.tcp(REDIS_PORT), f"Redis from Prefect {name}"
                )

        self.redis: elasticache.CfnReplicationGroup | None = None
        if self.redis_auth_secret is not None and self.redis_security_group is not None:
            self.redis = self._redis(
                props, auth_secret=self.redis_auth_secret, security_group=self.redis_security_group
            )
        self.log_group = ecs_common.retained_log_group(
            self,
            "Logs",
            retention=props.log_retention,
            logical_id="PrefectLogs",
            encryption_key=props.log_encryption_key,
        )
        self.flow_run_log_group = ecs_common.retained_log_group(
            self,
            "FlowRunLogs",
            retention=props.log_retention,
            logical_id="PrefectFlowRunLogs",
            encryption_key=props.log_encryption_key,
        )

        self.observer_queue, self.observer_dead_letter_queue, self.observer_rule = self._observer_queue(props)

        self.services_task_definition: ecs.FargateTaskDefinition | None = None
        self.services_service: ecs.FargateService | None = None
        if self.services_security_group is not None:
            self.services_task_definition = self._server_task_definition(
                "ServicesTaskDefinition",
                props,
                name="services",
                task_role=props.server_task_role,
                memory_mib=props.server_memory_mib,
                before=[LOGGING_STEP, MIGRATION_COMMAND, f"touch {MIGRATED_MARKER}"],
                main=SERVICES_COMMAND,
                health_check=ecs.HealthCheck(
                    command=["CMD-SHELL", f"test -f {MIGRATED_MARKER}"],
                    interval=Duration.seconds(60),
                    timeout=Duration.seconds(5),
                    retries=10,
                    start_period=Duration.seconds(300),
                ),
                # The services build the API in-process (an orchestration client) and would copy the UI
                # bundles too; they serve no UI.
                extra_environment={
                    "PREFECT_API_URL": self.internal_api_url,
                    "PREFECT_SERVER_UI_ENABLED": "false",
                    # Links in automation notifications point at the public UI, not the internal API
                    # (Settings.ui_url, prefect/settings/models/root.py:212; else derived from the API URL).
                    "PREFECT_UI_URL": props.public_url,
                    **self._services_environment(props),
                    **self._pool_environment(pools["prefect-services"]),
                },
            )
            self.services_service = ecs_common.fargate_service(
                self,
                "ServicesService",
                cluster=props.cluster,
                task_definition=self.services_task_definition,
                subnets=props.subnets,
                security_group=self.services_security_group,
                desired_count=0 if props.waiting_for_image else 1,
                min_healthy_percent=0,
                max_healthy_percent=100,
                spot=props.server_spot,
            )

        api_extra_environment = {
            "PREFECT_UI_API_URL": f"{props.public_url}/api",
            "PREFECT_UI_URL": props.public_url,
            "PREFECT_SERVER_API_HOST": "0.0.0.0",
            "PREFECT_SERVER_API_PORT": str(PORT),
            "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
            "PREFECT_UI_STATIC_DIRECTORY": UI_STATIC_DIRECTORY,
            # ServerAPISettings.keepalive_timeout (settings/models/server/api.py:50): above the ALB's 60 s.
            "PREFECT_SERVER_API_KEEPALIVE_TIMEOUT": str(API_KEEPALIVE_TIMEOUT_SECONDS),
            # ServerAPISettings.cors_allowed_origins (settings/models/server/api.py:105, default "*"): the UI
            # is served from the public origin; no other origin's scripts may call the API.
            "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": props.public_url,
        }
        if props.embedded_services:
            api_extra_environment["PREFECT_API_URL"] = LOCAL_API_URL
            api_extra_environment |= self._services_environment(props)
            api_extra_environment |= self._pool_environment(pools["prefect-server"])
        else:
            api_extra_environment |= self._pool_environment(pools["prefect-api"])
        self.api_task_definition = self._server_task_definition(
            "ApiTaskDefinition",
            props,
            name="api",
            task_role=props.worker_task_role if props.embedded_worker else props.server_task_role,
            memory_mib=props.server_memory_mib - (props.worker_memory_mib if props.embedded_worker else 0),
            before=[LOGGING_STEP, MIGRATION_COMMAND] if props.embedded_services else [],
            main=EMBEDDED_SERVICES_COMMAND if props.embedded_services else API_COMMAND,
            health_check=ecs.HealthCheck(
                command=_http_probe(f"http://localhost:{PORT}{HEALTH_PATH}"),
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                # Embedded, the API migrates the database before it listens: give it the services
                # task's start budget.
                start_period=Duration.seconds(300 if props.embedded_services else 90),
            ),
            extra_environment=api_extra_environment,
            extra_secrets={
                "PREFECT_SERVER_API_AUTH_STRING": ecs.Secret.from_secrets_manager(self.auth_secret)
            },
            port=PORT,
        )
        self.api_service = ecs_common.fargate_service(
            self,
            "ApiService",
            cluster=props.cluster,
            task_definition=self.api_task_definition,
            subnets=props.subnets,
            security_group=self.api_security_group,
            desired_count=0 if props.waiting_for_image else props.api_min_capacity,
            health_check_grace_period=Duration.minutes(5 if props.embedded_services else 2),
            cloud_map_options=ecs.CloudMapOptions(
                name=API_DISCOVERY_NAME,
                cloud_map_namespace=props.namespace,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(10),
            ),
            spot=props.server_spot,
        )
        if self.services_service is not None:
            self.api_service.node.add_dependency(self.services_service)
        self.connections = self.api_service.connections
        self.target_group = ecs_common.ip_target_group(
            self, "TargetGroup", vpc=props.vpc, port=PORT, health_check_path=HEALTH_PATH
        )
        self.api_service.attach_to_application_target_group(self.target_group)
        self.api_scaling = self.api_service.auto_scale_task_count(
            min_capacity=0 if props.waiting_for_image else props.api_min_capacity,
            max_capacity=0 if props.waiting_for_image else props.api_max_capacity,
        )
        self.api_scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=props.api_cpu_target_percent,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )

        self.work_pool_job_variables: dict[str, Any] = {
            "cluster": props.cluster.cluster_arn,
            "vpc_id": props.vpc.vpc_id,
            "network_configuration": {
                "subnets": ecs_common.subnet_ids(props.vpc, props.subnets),
                "securityGroups": [self.flow_run_security_group.security_group_id],
                "assignPublicIp": "DISABLED",
            },
            "launch_type": ecs_common.FARGATE_SPOT if props.flow_run_spot else "FARGATE",
            "task_role_arn": props.flow_run_task_role.role_arn,
            "execution_role_arn": props.flow_run_execution_role.role_arn,
            "prefect_api_auth_string_secret_arn": self.auth_secret.secret_arn,
            # ECSVariables.match_latest_revision_in_family (prefect_aws/workers/ecs_worker.py:671): reuse the
            # family's latest revision when it equals the wanted one (ecs_worker.py:979) instead of
            # registering a new revision after every worker restart (its cache is in memory).
            "match_latest_revision_in_family": True,
            "configure_cloudwatch_logs": True,
            "cloudwatch_logs_options": {
                "awslogs-group": self.flow_run_log_group.log_group_name,
                "awslogs-region": Stack.of(self).region,
                "awslogs-stream-prefix": "flow-run",
            },
        }

        self.worker_service: ecs.FargateService | None = None
        if self.worker_security_group is None:
            self.worker_task_definition = self.api_task_definition
            self.worker_container = self._add_worker_container(
                self.api_task_definition, props, api_url=LOCAL_API_URL
            )
            api_container = self.api_task_definition.find_container("api")
            if api_container is None:
                raise AssertionError("the API task definition has no 'api' container")
            self.worker_container.add_container_dependencies(
                ecs.ContainerDependency(
                    container=api_container, condition=ecs.ContainerDependencyCondition.HEALTHY
                )
            )
        else:
            self.worker_task_definition = ecs_common.task_definition(
                self,
                "WorkerTaskDefinition",
                cpu=props.worker_cpu,
                memory_mib=props.worker_memory_mib,
                task_role=props.worker_task_role,
                cpu_architecture=props.cpu_architecture,
            )
            self.worker_container = self._add_worker_container(
                self.worker_task_definition, props, api_url=self.internal_api_url
            )
            self.worker_service = ecs_common.fargate_service(
                self,
                "WorkerService",
                cluster=props.cluster,
                task_definition=self.worker_task_definition,
                subnets=props.subnets,
                security_group=self.worker_security_group,
                desired_count=0 if props.waiting_for_image else props.worker_count,
                spot=props.worker_spot,
            )
            self.worker_service.node.add_dependency(self.api_service)

        self.late_runs_filter_pattern = logs.FilterPattern.all_terms(LATE_RUN_LOG_TERM)
        """Matches `log_group`'s lines of a flow run being marked late (`LATE_RUN_LOG_TERM`)."""
        self.database_clients: tuple[ec2.IConnectable, ...] = tuple(
            service for service in (self.api_service, self.services_service) if service is not None
        )

    def _secret(
        self, id: str, *, name: str, description: str, length: int, logical_id: str, key: kms.IKey | None
    ) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            id,
            secret_name=name,
            encryption_key=key,
            description=description,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=length
            ),
        )
        pin_logical_id(secret, logical_id)
        return secret

    def _redis(
        self, props: PrefectProps, *, auth_secret: secretsmanager.ISecret, security_group: ec2.ISecurityGroup
    ) -> elasticache.CfnReplicationGroup:
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Prefect Redis message broker",
            subnet_ids=ecs_common.subnet_ids(props.vpc, props.subnets),
        )
        replicated = props.redis_replicas > 0
        group = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description="Prefect events, causal ordering, concurrency leases and Docket",
            engine="redis",
            engine_version=REDIS_ENGINE_VERSION,
            cache_node_type=props.redis_node_type,
            num_cache_clusters=1 + props.redis_replicas,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=REDIS_PORT,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[security_group.security_group_id],
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=auth_secret.secret_value.unsafe_unwrap(),
            auto_minor_version_upgrade=True,
            preferred_maintenance_window="sun:05:30-sun:06:30",
            snapshot_retention_limit=0,
        )
        group.apply_removal_policy(RemovalPolicy.DESTROY)
        return group

    def _server_environment(self, props: PrefectProps) -> dict[str, str]:
        """The servers' settings; without Redis, Prefect's defaults are its in-memory broker, cache,
        causal ordering, lease storage and Docket."""
        environment = {
            "PREFECT_HOME": PREFECT_HOME,
            "HOME": PREFECT_HOME,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_DATABASE_DRIVER": "postgresql+asyncpg",
            "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED": "true",
            "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE": DATABASE_CA_FILE,
            "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME": "true",
            "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
            "DATABASE_CA_BUNDLE_URL": props.database_ca_bundle_url,
        }
        if props.database_auto_pauses:
            # ServerDatabaseSettings.connection_timeout (settings/models/server/database.py:273, default 5):
            # a paused Aurora Serverless v2 instance takes ~15-30 s to accept the first connection.
            environment["PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT"] = str(
                DATABASE_RESUME_CONNECTION_TIMEOUT_SECONDS
            )
        if self.redis is not None:
            environment |= {
                "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
                "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
                "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
                "PREFECT_REDIS_MESSAGING_HOST": self.redis.attr_primary_end_point_address,
                "PREFECT_REDIS_MESSAGING_PORT": str(REDIS_PORT),
                "PREFECT_REDIS_MESSAGING_DB": "0",
                "PREFECT_REDIS_MESSAGING_SSL": "true",
                # The worker channel's cleanup queue (ServerWorkerChannelSettings.cleanup_queue_storage,
                # settings/models/server/worker_channel.py:18) defaults to one process's memory: the
                # services task enqueues a timed-out cancellation's "stop this task"
                # (server/services/cancellation_cleanup.py:45) and whichever API replica holds the worker's
                # websocket delivers it (server/api/workers.py:53), so both need the shared Redis queue.
                # Embedded, services and API are one process and Prefect's in-memory queue is right.
                "PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE": CLEANUP_QUEUE_STORAGE,
                # RedisWorkerCleanupQueueSettings (prefect_redis/cleanup_queue.py:74-105); the password is
                # an ECS secret (see _server_task_definition).
                "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_HOST": self.redis.attr_primary_end_point_address,
                "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_PORT": str(REDIS_PORT),
                "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_DB": "0",
                "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_SSL": "true",
            }
        return environment

    @staticmethod
    def _services_environment(props: PrefectProps) -> dict[str, str]:
        """Settings of the process that runs the background services (the services task, or the API
        when embedded)."""
        return {
            # ServerServicesDBVacuumSettings.enabled (settings/models/server/services.py:96): a
            # comma-separated set; the default {"events"} never deletes flow runs, task runs, states,
            # logs or artifacts. "flow_runs" also enables the orphan cleanup (services.py:128). Events
            # keep their own retention (ServerEventsSettings.retention_period, events.py:92, 7 days).
            "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
            # ServerServicesDBVacuumSettings.retention_period (services.py:144): seconds, more than 1 hour.
            "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(
                int(props.flow_run_retention.to_seconds())
            ),
        }

    @staticmethod
    def _pool_environment(pool: DatabasePool) -> dict[str, str]:
        """One process's pool and its name in pg_stat_activity (SQLAlchemySettings.pool_size and
        max_overflow, settings/models/server/database.py:114 and :134;
        SQLAlchemyConnectArgsSettings.application_name, database.py:64)."""
        return {
            "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE": str(pool.pool_size),
            "PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW": str(pool.max_overflow),
            "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME": pool.application_name,
        }

    def _server_task_definition(
        self,
        id: str,
        props: PrefectProps,
        *,
        name: str,
        task_role: iam.IRole,
        memory_mib: int,
        before: list[str],
        main: str,
        health_check: ecs.HealthCheck | None,
        extra_environment: dict[str, str] | None = None,
        extra_secrets: dict[str, ecs.Secret] | None = None,
        port: int | None = None,
    ) -> ecs.FargateTaskDefinition:
        """A server task: fetches the RDS CA bundle, points Docket at Redis (when there is one), then
        runs `main` in a container of `memory_mib` (the task's memory, less an embedded worker's share).

        The Docket URL carries the Redis AUTH token, so it is assembled inside the container from
        the token the task receives as an ECS secret; it never appears in the template.
        """
        task_definition = ecs_common.task_definition(
            self,
            id,
            cpu=props.server_cpu,
            memory_mib=props.server_memory_mib,
            task_role=task_role,
            cpu_architecture=props.cpu_architecture,
        )
        environment = self._server_environment(props) | (extra_environment or {})
        ecs_common.assert_no_plain_secrets(environment)
        secrets = {
            variable: ecs.Secret.from_secrets_manager(props.database_secret, field)
            for variable, field in DATABASE_SECRETS.items()
        }
        docket: list[str] = []
        if self.redis_auth_secret is not None:
            secrets["PREFECT_REDIS_MESSAGING_PASSWORD"] = ecs.Secret.from_secrets_manager(
                self.redis_auth_secret
            )
            secrets["PREFECT_REDIS_WORKER_CLEANUP_QUEUE_PASSWORD"] = ecs.Secret.from_secrets_manager(
                self.redis_auth_secret
            )
            docket.append(
                "export PREFECT_SERVER_DOCKET_URL="
                '"rediss://:$PREFECT_REDIS_MESSAGING_PASSWORD@$PREFECT_REDIS_MESSAGING_HOST:'
                '$PREFECT_REDIS_MESSAGING_PORT/1"'
            )
        secrets["PREFECT_API_AUTH_STRING"] = ecs.Secret.from_secrets_manager(self.auth_secret)
        secrets |= extra_secrets or {}
        steps = [
            'mkdir -p "$PREFECT_HOME"',
            "python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "
            '"$DATABASE_CA_BUNDLE_URL" "$PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE"',
            *docket,
            *before,
            f"exec {main}",
        ]
        task_definition.add_container(
            name,
            image=ecs.ContainerImage.from_ecr_repository(self.repository, props.image_tag),
            command=["sh", "-c", " && ".join(steps)],
            memory_limit_mib=memory_mib,
            user=ecs_common.NON_ROOT_USER,
            readonly_root_filesystem=True,
            linux_parameters=ecs_common.scratch_space(self, f"{id}Scratch", size_mib=256, allow_exec=False),
            port_mappings=[ecs.PortMapping(container_port=port, name="http")] if port else None,
            environment=environment,
            secrets=secrets,
            logging=ecs_common.aws_logs(self.log_group, name),
            health_check=health_check,
            stop_timeout=Duration.seconds(STOP_TIMEOUT_SECONDS),
        )
        return task_definition

    def _add_worker_container(
        self, task_definition: ecs.FargateTaskDefinition, props: PrefectProps, *, api_url: str
    ) -> ecs.ContainerDefinition:
        """The `worker` container, polling the work pool through `api_url`, with a hard memory limit of
        `worker_memory_mib` (its own task's memory, or its share of the API task). Its ECS observer
        reads the task-state events of the flow runs from `observer_queue`."""
        environment = {
            "PREFECT_HOME": PREFECT_HOME,
            "HOME": PREFECT_HOME,
            "PREFECT_API_URL": api_url,
            "PREFECT_WORKER_WEBSERVER_HOST": "0.0.0.0",
            "PREFECT_WORKER_WEBSERVER_PORT": str(WORKER_HEALTH_PORT),
            "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME": self.observer_queue.queue_name,
            "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION": Stack.of(self).region,
            # WorkerSettings.enable_cancellation (prefect/settings/models/worker.py:52, default off):
            # the worker watches for Cancelling runs (prefect/workers/base.py:1432) and stops the ECS
            # task of a run cancelled while still PENDING (prefect_aws ECSWorker.kill_infrastructure,
            # ecs_worker.py:1685), which no runner is there yet to do.
            "PREFECT_WORKER_ENABLE_CANCELLATION": "true",
            JOB_VARIABLES_VARIABLE: Stack.of(self).to_json_string(self.work_pool_job_variables),
            "BLOG_APPLY_JOB_VARIABLES": APPLY_JOB_VARIABLES,
        }
        ecs_common.assert_no_plain_secrets(environment)
        return task_definition.add_container(
            "worker",
            image=ecs.ContainerImage.from_ecr_repository(self.repository, props.image_tag),
            command=["/bin/sh", "-c", WORKER_START, "worker", props.work_pool_name],
            memory_limit_mib=props.worker_memory_mib,
            user=ecs_common.NON_ROOT_USER,
            readonly_root_filesystem=True,
            linux_parameters=ecs_common.scratch_space(self, "WorkerScratch", size_mib=256, allow_exec=False),
            environment=environment,
            secrets={"PREFECT_API_AUTH_STRING": ecs.Secret.from_secrets_manager(self.auth_secret)},
            logging=ecs_common.aws_logs(self.log_group, "worker"),
            health_check=ecs.HealthCheck(
                command=_http_probe(f"http://localhost:{WORKER_HEALTH_PORT}/health"),
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(60),
            ),
            stop_timeout=Duration.seconds(STOP_TIMEOUT_SECONDS),
        )

    def _observer_queue(self, props: PrefectProps) -> tuple[sqs.Queue, sqs.Queue, events.Rule]:
        """The queue prefect-aws's ECS observer reads: EventBridge sends it the task-state changes of
        this cluster's flow-run tasks; what the observer fails on three times goes to a dead-letter queue."""
        dead_letters = sqs.Queue(
            self,
            "ObserverDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        queue = sqs.Queue(
            self,
            "ObserverQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(7),
            visibility_timeout=Duration.minutes(5),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=3),
        )
        rule = events.Rule(
            self,
            "ObserverRule",
            description="ECS task state changes of the Prefect flow runs, for the workers' ECS observer",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={
                    "clusterArn": [props.cluster.cluster_arn],
                    "group": events.Match.prefix(f"family:{props.flow_run_family_prefix}"),
                },
            ),
        )
        # The target and the queue's grant are written here rather than by events_targets.SqsQueue,
        # whose grant names the rule but not the account it acts for.
        cast(events.CfnRule, rule.node.default_child).targets = [
            events.CfnRule.TargetProperty(arn=queue.queue_arn, id="ObserverQueue")
        ]
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeliversTheRulesEvents",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": rule.rule_arn},
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                },
            )
        )
        return queue, dead_letters, rule

    @staticmethod
    def _validate(props: PrefectProps) -> None:
        ecs_common.validate_image_tag(props.image_tag, allow_latest=False, what="Prefect")
        if not _FAMILY_PREFIX.fullmatch(props.flow_run_family_prefix):
            raise ValueError(
                f"Prefect flow_run_family_prefix {props.flow_run_family_prefix!r} must be 1-200 letters, "
                "digits, '_' or '-'"
            )
        ecs_common.validate_https_url(props.public_url, what="Prefect public_url")
        if not props.database_ca_bundle_url.startswith("https://"):
            raise ValueError("Prefect database_ca_bundle_url must be an https:// address")
        ecs_common.validate_secret_name_prefix(props.secret_name_prefix, what="Prefect")
        if not _WORK_POOL.fullmatch(props.work_pool_name):
            raise ValueError(
                f"Prefect work_pool_name {props.work_pool_name!r} must be lowercase, digits, '-'"
            )
        ecs_common.validate_fargate_size(props.server_cpu, props.server_memory_mib, what="Prefect server")
        if not props.embedded_worker:
            ecs_common.validate_fargate_size(props.worker_cpu, props.worker_memory_mib, what="Prefect worker")
        if not 1 <= props.api_min_capacity <= props.api_max_capacity:
            raise ValueError(
                f"Prefect needs 1 <= api_min_capacity <= api_max_capacity, got {props.api_min_capacity} "
                f"and {props.api_max_capacity}"
            )
        if not 10 <= props.api_cpu_target_percent <= 90:
            raise ValueError("Prefect api_cpu_target_percent must be between 10 and 90")
        if not 0 <= props.worker_count <= 10:
            raise ValueError("Prefect worker_count must be between 0 and 10")
        if not 0 <= props.redis_replicas <= 5:
            raise ValueError("Prefect redis_replicas must be between 0 and 5")
        if not props.redis_node_type.startswith("cache."):
            raise ValueError(
                f"Prefect redis_node_type {props.redis_node_type!r} is not an ElastiCache node type"
            )
        if props.embedded_services:
            if props.api_max_capacity != 1:
                raise ValueError(
                    f"Prefect embedded_services needs api_max_capacity = 1 (got {props.api_max_capacity}): "
                    "the in-memory broker and the background services live in one API process"
                )
            if props.redis_replicas:
                raise ValueError(
                    "Prefect redis_replicas must be 0 with embedded_services: there is no Redis to replicate"
                )
        if props.embedded_worker:
            Prefect._validate_embedded_worker(props)
        if props.flow_run_retention.to_seconds() <= 3600:
            raise ValueError(
                "Prefect flow_run_retention must exceed one hour (the minimum of Prefect's db_vacuum "
                "retention_period)"
            )
        for pool in database_pools(props):
            if pool.per_process < 5:
                raise ValueError(
                    f"Prefect database_max_connections {props.database_max_connections} leaves the "
                    f"{pool.application_name} processes {pool.per_process} connection(s) each; give the "
                    "database more capacity (aurora.max_capacity) or run fewer API tasks"
                )

    @staticmethod
    def _validate_embedded_worker(props: PrefectProps) -> None:
        if props.worker_count != 1 or props.api_max_capacity != 1:
            raise ValueError(
                "Prefect embedded_worker needs worker_count = 1 and api_max_capacity = 1 (got "
                f"{props.worker_count} and {props.api_max_capacity}): one API task with one worker in it"
            )
        if props.worker_spot:
            raise ValueError(
                "Prefect worker_spot does not apply with embedded_worker: the worker runs in the API task, "
                "so set server_spot instead"
            )
        server_share = props.server_memory_mib - props.worker_memory_mib
        if (
            props.worker_memory_mib < MIN_EMBEDDED_CONTAINER_MEMORY_MIB
            or server_share < MIN_EMBEDDED_CONTAINER_MEMORY_MIB
        ):
            raise ValueError(
                f"Prefect embedded_worker splits server_memory_mib ({props.server_memory_mib}) between the "
                f"API and the worker (worker_memory_mib {props.worker_memory_mib}): each needs at least "
                f"{MIN_EMBEDDED_CONTAINER_MEMORY_MIB} MiB; raise server_memory_mib or lower worker_memory_mib"
            )
