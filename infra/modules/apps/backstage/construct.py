"""The Backstage portal: its image repository, its secret and its Fargate service."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.modules.apps import ecs_common
from infra.modules.apps.backstage import APP_SECRET_LOGICAL_ID
from infra.modules.stateful import pin_logical_id

PORT = 7007
LIVENESS_PATH = "/.backstage/health/v1/liveness"
READINESS_PATH = "/.backstage/health/v1/readiness"
PLACEHOLDER_KEY = "placeholder"
APP_SECRET_KEYS = ("github_token", "auth_github_client_id", "auth_github_client_secret")
BACKEND_SECRET_KEY = "backend_secret"
DATABASE_SECRETS = {
    "POSTGRES_HOST": "host",
    "POSTGRES_PORT": "port",
    "POSTGRES_USER": "username",
    "POSTGRES_PASSWORD": "password",
    "POSTGRES_DB": "dbname",
}
GITHUB_SECRETS = {
    "GITHUB_TOKEN": "github_token",
    "AUTH_GITHUB_CLIENT_ID": "auth_github_client_id",
    "AUTH_GITHUB_CLIENT_SECRET": "auth_github_client_secret",
}
"""Given to the container only with `github_secrets`, together with GITHUB_CONFIG_FILE: ECS injects a
JSON key holding "" as an empty variable, and Backstage refuses an empty config value."""
BASE_CONFIG_FILES = ("app-config.yaml", "app-config.production.yaml")
"""The image's own configuration, loaded in every state (what the standard Backstage image's CMD loads)."""
GITHUB_CONFIG_FILE = "app-config.github.yaml"
"""The image's GitHub configuration (GITHUB_CONFIG), loaded only with `github_secrets`: while it is loaded,
the auth backend configures the GitHub provider and refuses to start without a client id, so a first
deploy, before the GitHub values exist, must not load it."""
ENTRY_POINT = ("node", "packages/backend")
"""How the standard Backstage image starts its backend: the CMD of backstage/backstage's
`packages/create-app/templates/default-app/packages/backend/Dockerfile` (WORKDIR /app, which also
copies `app-config*.yaml` there) is this with `--config` for each of BASE_CONFIG_FILES."""


def command(*, github_secrets: bool) -> tuple[str, ...]:
    """The container's command: the standard image's CMD, plus the GitHub file once `github_secrets` is on."""
    files = (*BASE_CONFIG_FILES, GITHUB_CONFIG_FILE) if github_secrets else BASE_CONFIG_FILES
    return (*ENTRY_POINT, *(arg for name in files for arg in ("--config", name)))


APP_SECRETS = {**GITHUB_SECRETS, "BACKEND_SECRET": BACKEND_SECRET_KEY}
READINESS_PROBE = (
    f"require('http').get('http://localhost:{PORT}{READINESS_PATH}', "
    "r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"
)
"""The container health check: readiness, because a Backstage backend whose start failed keeps
running and answers liveness 200 (readiness 503), which ECS would keep as healthy."""
HEALTH_CHECK_START_PERIOD = Duration.seconds(120)
STOP_TIMEOUT = Duration.seconds(30)
USER = ecs_common.NON_ROOT_USER
SCRATCH_PATH = ecs_common.SCRATCH_PATH
SCRATCH_SIZE_MIB = 512
IMAGE_FILES = {
    "app-config.github.yaml": "in /app beside the other app-config files: the GitHub configuration, which "
    "the task loads only once `backstage.github_secrets` is on",
    "index.html.tmpl": "in the app bundle (app-backend's): without it app-backend writes the injected "
    "configuration into the bundle on start, which the read-only root refuses",
}
"""Files the image must carry beside the CA bundle, and why."""
IMAGE_CONFIG = (
    ("backend.listen.port", str(PORT), "the port the task maps and the load balancer reaches"),
    ("backend.database.client", "pg", "Aurora PostgreSQL"),
    (
        "backend.database.pluginDivisionMode",
        "schema",
        "one database per consumer, owned by a role that may not create databases: one schema per plugin",
    ),
    (
        "backend.database.ensureExists",
        "false",
        "the bootstrap created the database; otherwise Backstage first connects to the `postgres` database "
        "to look",
    ),
    ("backend.database.ensureSchemaExists", "true", "`ensureExists: false` also stops creating the schemas"),
    ("backend.database.connection.host", "${POSTGRES_HOST}", "from the database secret"),
    ("backend.database.connection.port", "${POSTGRES_PORT}", "from the database secret"),
    ("backend.database.connection.user", "${POSTGRES_USER}", "from the database secret"),
    ("backend.database.connection.password", "${POSTGRES_PASSWORD}", "from the database secret"),
    ("backend.database.connection.database", "${POSTGRES_DB}", "the consumer's own database"),
    (
        "backend.auth.externalAccess[0].options.secret",
        "${BACKEND_SECRET}",
        "generated; a `legacy` access entry",
    ),
)
"""(key, value, why) of the configuration the image's BASE_CONFIG_FILES must give Backstage; the task adds
app.baseUrl, backend.baseUrl and backend.database.connection.ssl.rejectUnauthorized through APP_CONFIG_*.
They must hold no `auth.providers.github` and no `integrations.github`: those are GITHUB_CONFIG's."""
GITHUB_CONFIG = (
    ("integrations.github[0].host", "github.com", "the catalog's and the scaffolder's GitHub"),
    ("integrations.github[0].token", "${GITHUB_TOKEN}", "the app secret's `github_token`"),
    (
        "auth.providers.github.production.clientId",
        "${AUTH_GITHUB_CLIENT_ID}",
        "the app secret's `auth_github_client_id`",
    ),
    (
        "auth.providers.github.production.clientSecret",
        "${AUTH_GITHUB_CLIENT_SECRET}",
        "the app secret's `auth_github_client_secret`",
    ),
)
"""(key, value, why) of GITHUB_CONFIG_FILE, which the task loads only with `github_secrets`."""


@dataclass(frozen=True, kw_only=True)
class BackstageProps:
    """Inputs of the Backstage module."""

    vpc: ec2.IVpc
    """VPC of the service and of its target group."""
    subnets: ec2.SubnetSelection
    """Private application subnets the tasks run in (no public IP)."""
    cluster: ecs.ICluster
    """The shared Fargate cluster."""
    task_role: iam.IRole
    """Role the portal runs as (from the iam_runtime module)."""
    image_tag: str
    """Tag of the portal image in this module's repository, as pushed by blog_portal."""
    allow_latest: bool = False
    """Accept the tag `latest`; only the local emulator environment may."""
    base_url: str
    """Public origin of the portal, e.g. `https://portal.rocketclub.online`."""
    database_secret: secretsmanager.ISecret
    """The portal's database login; JSON keys host, port, username, password, dbname."""
    secret_name_prefix: str
    """The app secret is named `<secret_name_prefix>/backstage`, e.g. `blog/prod/apps`."""
    secrets_encryption_key: kms.IKey | None = None
    """Customer-managed KMS key that encrypts the app secret; None: the AWS-managed Secrets Manager key."""
    database_ca_bundle_path: str = "/app/rds-global-bundle.pem"
    """Path, inside the image, of the RDS CA bundle the database's certificate is verified against."""
    github_secrets: bool = False
    """Give the container GITHUB_TOKEN, AUTH_GITHUB_CLIENT_ID and AUTH_GITHUB_CLIENT_SECRET from the app
    secret and load the image's `app-config.github.yaml` (GitHub sign-in and integration). Leave it off
    until `blog-infra secrets set backstage` has stored them: the app secret starts with empty values, and
    the GitHub provider refuses to start without a client id."""
    cpu: int = 1024
    """Task CPU units."""
    memory_mib: int = 2048
    """Task memory in MiB."""
    cpu_architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.X86_64
    """CPU architecture of the tasks; ARM64 (Graviton, about 20% cheaper) needs an image that blog_portal
    builds for arm64."""
    spot: bool = False
    """Run the tasks on Fargate Spot (about 70% cheaper): a task may be stopped with two minutes' notice
    and the service starts a replacement, so a single-task portal is away for a minute or three."""
    desired_count: int = 1
    """Tasks running after a deployment, before autoscaling acts."""
    waiting_for_image: bool = False
    """Create the service at zero tasks, autoscaling held at zero, until the image is in the repository
    (a first deploy creates the repository, so blog_portal can push only after it)."""
    min_capacity: int = 1
    """Fewest tasks autoscaling keeps."""
    max_capacity: int = 2
    """Most tasks autoscaling starts."""
    cpu_target_percent: int = 70
    """Average CPU utilisation autoscaling aims for."""
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
    """How long the portal's logs are kept."""
    log_encryption_key: kms.IKey | None = None
    """KMS key that encrypts the portal's log group; None: CloudWatch's own key."""
    image_retention_count: int = 30
    """The repository keeps this many most recent images."""
    untagged_image_expiry: Duration = ecs_common.UNTAGGED_IMAGE_EXPIRY
    """Untagged images (failed or superseded pushes) are removed after this."""


class Backstage(Construct):
    """The portal's ECR repository and app secret, and a private Fargate service on port 7007 behind
    a target group of the shared load balancer, scaled on CPU."""

    def __init__(self, scope: Construct, id: str, *, props: BackstageProps) -> None:
        super().__init__(scope, id)
        self._validate(props)
        self.port = PORT

        self.repository = ecs_common.image_repository(
            self,
            "Repository",
            logical_id="BackstageRepository",
            untagged_image_expiry=props.untagged_image_expiry,
            retention_count=props.image_retention_count,
        )
        self.repository_uri = self.repository.repository_uri

        self.app_secret = secretsmanager.Secret(
            self,
            "AppSecret",
            secret_name=f"{props.secret_name_prefix}/backstage",
            encryption_key=props.secrets_encryption_key,
            description="Backstage portal: GitHub token, GitHub OAuth app, backend signing secret.",
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(
                    {key: "" for key in APP_SECRET_KEYS} | {PLACEHOLDER_KEY: "true"}, sort_keys=True
                ),
                generate_string_key=BACKEND_SECRET_KEY,
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        pin_logical_id(self.app_secret, APP_SECRET_LOGICAL_ID)

        self.log_group = ecs_common.retained_log_group(
            self,
            "Logs",
            retention=props.log_retention,
            logical_id="BackstageLogs",
            encryption_key=props.log_encryption_key,
        )
        self.task_definition = ecs_common.task_definition(
            self,
            "TaskDefinition",
            cpu=props.cpu,
            memory_mib=props.memory_mib,
            task_role=props.task_role,
            cpu_architecture=props.cpu_architecture,
        )
        environment = {
            "NODE_ENV": "production",
            "APP_CONFIG_app_baseUrl": props.base_url,
            "APP_CONFIG_backend_baseUrl": props.base_url,
            "APP_CONFIG_backend_database_connection_ssl_rejectUnauthorized": "true",
            "PGSSLMODE": "verify-full",
            "NODE_EXTRA_CA_CERTS": props.database_ca_bundle_path,
        }
        ecs_common.assert_no_plain_secrets(environment)
        app_secrets = (
            APP_SECRETS
            if props.github_secrets
            else {name: key for name, key in APP_SECRETS.items() if name not in GITHUB_SECRETS}
        )
        secrets = {
            name: ecs.Secret.from_secrets_manager(props.database_secret, field)
            for name, field in DATABASE_SECRETS.items()
        } | {
            name: ecs.Secret.from_secrets_manager(self.app_secret, field)
            for name, field in app_secrets.items()
        }
        self.container = self.task_definition.add_container(
            "backstage",
            image=ecs.ContainerImage.from_ecr_repository(self.repository, props.image_tag),
            command=list(command(github_secrets=props.github_secrets)),
            memory_limit_mib=props.memory_mib,
            user=USER,
            readonly_root_filesystem=True,
            linux_parameters=ecs_common.scratch_space(
                self, "Scratch", size_mib=SCRATCH_SIZE_MIB, allow_exec=False
            ),
            port_mappings=[ecs.PortMapping(container_port=PORT, name="http")],
            environment=environment,
            secrets=secrets,
            logging=ecs_common.aws_logs(self.log_group, "backstage"),
            health_check=ecs.HealthCheck(
                command=["CMD", "node", "-e", READINESS_PROBE],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=HEALTH_CHECK_START_PERIOD,
            ),
            stop_timeout=STOP_TIMEOUT,
        )

        self.security_group = ecs_common.security_group(
            self, "SecurityGroup", vpc=props.vpc, description="Backstage portal tasks"
        )
        self.service = ecs_common.fargate_service(
            self,
            "Service",
            cluster=props.cluster,
            task_definition=self.task_definition,
            subnets=props.subnets,
            security_group=self.security_group,
            desired_count=0 if props.waiting_for_image else props.desired_count,
            health_check_grace_period=Duration.minutes(5),
            spot=props.spot,
        )
        self.connections = self.service.connections

        self.target_group = ecs_common.ip_target_group(
            self, "TargetGroup", vpc=props.vpc, port=PORT, health_check_path=READINESS_PATH
        )
        self.service.attach_to_application_target_group(self.target_group)

        self.scaling = self.service.auto_scale_task_count(
            min_capacity=0 if props.waiting_for_image else props.min_capacity,
            max_capacity=0 if props.waiting_for_image else props.max_capacity,
        )
        self.scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=props.cpu_target_percent,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )

    @staticmethod
    def _validate(props: BackstageProps) -> None:
        ecs_common.validate_image_tag(props.image_tag, allow_latest=props.allow_latest, what="Backstage")
        ecs_common.validate_https_url(props.base_url, what="Backstage base_url")
        ecs_common.validate_secret_name_prefix(props.secret_name_prefix, what="Backstage")
        ecs_common.validate_fargate_size(props.cpu, props.memory_mib, what="Backstage")
        if not props.database_ca_bundle_path.startswith("/"):
            raise ValueError("Backstage database_ca_bundle_path must be an absolute path inside the image")
        if not 1 <= props.min_capacity <= props.desired_count <= props.max_capacity:
            raise ValueError(
                "Backstage needs 1 <= min_capacity <= desired_count <= max_capacity, got "
                f"{props.min_capacity} <= {props.desired_count} <= {props.max_capacity}"
            )
        if not 10 <= props.cpu_target_percent <= 90:
            raise ValueError("Backstage cpu_target_percent must be between 10 and 90")
        if props.image_retention_count < 1:
            raise ValueError("Backstage image_retention_count must keep at least one image")
        expiry = props.untagged_image_expiry.to_seconds()
        if expiry < 86400 or expiry % 86400:
            raise ValueError("Backstage untagged_image_expiry must be a whole number of days, at least one")
