"""Federated identities of CI (CircleCI) and of the public frontend (Vercel), through OIDC.

Nothing outside AWS holds a long-lived AWS key: CircleCI jobs and Vercel functions exchange their
OIDC token for short-lived credentials of a role whose trust policy pins the organisation, project,
branch or environment that may assume it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

CIRCLECI_ISSUER_HOST = "oidc.circleci.com"
VERCEL_ISSUER_HOST = "oidc.vercel.com"
DEFAULT_CDK_QUALIFIER = "hnb659fds"
CDK_BOOTSTRAP_ROLES = ("deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role")
SESSION = Duration.hours(1)
PLATFORM_NAME_ROOT = "blog"
"""Contract parameters live under `/blog/...` and platform secrets are named `blog/...`."""

_BRANCH = re.compile(r"^(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<![/.])$")
_VCS_ORIGIN = re.compile(r"^[a-z0-9.-]+\.[a-z]{2,}/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")
_TEAM_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
_PROJECT = re.compile(r"^[a-z0-9._-]{1,100}$")
_ENVIRONMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]+$")
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_THUMBPRINT = re.compile(r"^[0-9a-fA-F]{40}$")
_ROLE_SUFFIXES = ("ci-plan", "ci-deploy", "frontend")
_COLON = ArnFormat.COLON_RESOURCE_NAME


@dataclass(frozen=True, kw_only=True)
class CiIdentitiesProps:
    """Inputs of the CI and frontend identities module."""

    circleci_org_id: str
    """CircleCI organization id (a UUID: Organization Settings > Overview); also the token audience."""
    circleci_project_id: str
    """CircleCI project id of this repository (a UUID: Project Settings > Overview)."""
    main_branch: str = "main"
    """Only pipelines of this branch may assume the deploy role."""
    circleci_vcs_origin: str | None = None
    """Repository the deploy role is pinned to, as CircleCI names it (`github.com/<org>/<repo>`); None
    accepts any origin of the pinned project."""
    vercel_team_slug: str
    """Vercel team slug (the `vercel.com/<team>` URL segment); the OIDC issuer uses team mode."""
    vercel_project: str
    """Vercel project name of the public frontend (blog_code)."""
    vercel_environment: str = "production"
    """Vercel environment whose deployments may assume the frontend role."""
    frontend_read: tuple[tuple[s3.IBucket, str], ...] = ()
    """(bucket, key prefix) pairs the frontend may read objects under; each prefix ends with `/`."""
    verified_buckets: tuple[s3.IBucket, ...] = ()
    """Buckets whose configuration `blog-infra verify` reads (the plan role's verify policy)."""
    role_name_prefix: str
    """Roles are named `<role_name_prefix>-ci-plan`, `-ci-deploy` and `-frontend`."""
    cdk_qualifier: str = DEFAULT_CDK_QUALIFIER
    """Qualifier of the CDK bootstrap whose roles CI assumes (`cdk bootstrap --qualifier`)."""
    bootstrap_regions: tuple[str, ...] = ()
    """Regions whose CDK bootstrap roles CI may assume; empty means the stack's region only. Add
    `us-east-1` when a CloudFront certificate stack lives there."""
    circleci_thumbprints: tuple[str, ...] = ()
    """Certificate thumbprints of CircleCI's issuer; empty lets IAM trust its CA library (no pinning)."""
    vercel_thumbprints: tuple[str, ...] = ()
    """Certificate thumbprints of Vercel's issuer; empty lets IAM trust its CA library (no pinning)."""


class CiIdentities(Construct):
    """OIDC providers for CircleCI and Vercel and three roles: `ci-plan` (read-only, any branch),
    `ci-deploy` (may only assume the CDK bootstrap roles, main branch only) and `frontend` (reads
    listed S3 prefixes)."""

    def __init__(self, scope: Construct, id: str, *, props: CiIdentitiesProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        stack = Stack.of(self)
        self._stack = stack
        org = props.circleci_org_id.lower()
        project = props.circleci_project_id.lower()

        self.circleci_issuer = f"{CIRCLECI_ISSUER_HOST}/org/{org}"
        self.circleci_provider = iam.OidcProviderNative(
            self,
            "CircleCiProvider",
            url=f"https://{self.circleci_issuer}",
            client_ids=[org],
            thumbprints=list(props.circleci_thumbprints) or None,
        )
        self.vercel_issuer = f"{VERCEL_ISSUER_HOST}/{props.vercel_team_slug}"
        self.vercel_audience = f"https://vercel.com/{props.vercel_team_slug}"
        self.vercel_provider = iam.OidcProviderNative(
            self,
            "VercelProvider",
            url=f"https://{self.vercel_issuer}",
            client_ids=[self.vercel_audience],
            thumbprints=list(props.vercel_thumbprints) or None,
        )

        project_subject = f"org/{org}/project/{project}/user/*"
        self.plan_role = iam.Role(
            self,
            "PlanRole",
            role_name=f"{props.role_name_prefix}-ci-plan",
            description="CircleCI, any branch of this repository: read-only diff and verify.",
            max_session_duration=SESSION,
            assumed_by=iam.WebIdentityPrincipal(
                self.circleci_provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {f"{self.circleci_issuer}:aud": org},
                    "StringLike": {f"{self.circleci_issuer}:sub": project_subject},
                },
            ),
        )
        origin = props.circleci_vcs_origin or "*"
        self.deploy_subject = f"{project_subject}/vcs-origin/{origin}/vcs-ref/refs/heads/{props.main_branch}"
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            role_name=f"{props.role_name_prefix}-ci-deploy",
            description=f"CircleCI, {props.main_branch} branch only: assumes the CDK bootstrap roles.",
            max_session_duration=SESSION,
            assumed_by=iam.WebIdentityPrincipal(
                self.circleci_provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {f"{self.circleci_issuer}:aud": org},
                    "StringLike": {f"{self.circleci_issuer}:sub": self.deploy_subject},
                    # A branch named like `x/vcs-ref/refs/heads/main` must not satisfy the pattern above.
                    "StringNotLike": {f"{self.circleci_issuer}:sub": "*/vcs-ref/*/vcs-ref/*"},
                },
            ),
        )
        self.frontend_role = iam.Role(
            self,
            "FrontendRole",
            role_name=f"{props.role_name_prefix}-frontend",
            description=f"Vercel {props.vercel_project} ({props.vercel_environment}): reads its S3 prefixes.",
            max_session_duration=SESSION,
            assumed_by=iam.WebIdentityPrincipal(
                self.vercel_provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{self.vercel_issuer}:aud": self.vercel_audience,
                        f"{self.vercel_issuer}:sub": (
                            f"owner:{props.vercel_team_slug}:project:{props.vercel_project}"
                            f":environment:{props.vercel_environment}"
                        ),
                    }
                },
            ),
        )

        regions = props.bootstrap_regions or (stack.region,)
        self._allow_bootstrap_roles(self.deploy_role, props.cdk_qualifier, regions, CDK_BOOTSTRAP_ROLES)
        self._allow_bootstrap_roles(self.plan_role, props.cdk_qualifier, regions, ("lookup-role",))
        self._allow_diff(self.plan_role, props.cdk_qualifier)
        self._allow_diff(self.deploy_role, props.cdk_qualifier)
        self._allow_preflight(self.deploy_role)
        self.verify_policy = self._verify_policy(props)
        self.plan_role.add_managed_policy(self.verify_policy)
        for bucket, prefix in props.frontend_read:
            self.frontend_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[bucket.arn_for_objects(f"{prefix}*")],
                )
            )

    def _allow_bootstrap_roles(
        self, role: iam.Role, qualifier: str, regions: tuple[str, ...], kinds: tuple[str, ...]
    ) -> None:
        account = self._stack.account
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[
                    self._stack.format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name=f"cdk-{qualifier}-{kind}-{account}-{region}",
                    )
                    for region in regions
                    for kind in kinds
                ],
            )
        )

    def _allow_diff(self, role: iam.Role, qualifier: str) -> None:
        """What `blog-infra diff` needs when it falls back to the role's own credentials."""
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadStacks",
                actions=[
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResource",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:GetTemplate",
                    "cloudformation:GetTemplateSummary",
                    "cloudformation:ListStackResources",
                    "cloudformation:ListChangeSets",
                ],
                resources=[self._stack_arns()],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadBootstrapVersion",
                actions=["ssm:GetParameter", "ssm:GetParameters"],
                resources=[
                    self._stack.format_arn(
                        service="ssm",
                        region="*",
                        resource="parameter",
                        resource_name=f"cdk-bootstrap/{qualifier}/*",
                    )
                ],
            )
        )

    def _allow_preflight(self, role: iam.Role) -> None:
        """What `blog-infra preflight` reads, which `deploy` runs first with the role's own
        credentials: images in the account's ECR repositories, the Lambda quota and the stack's
        functions' reservations, the zones, an imported CloudFront certificate (us-east-1)."""
        stack = self._stack
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PreflightReadImages",
                actions=["ecr:DescribeImages"],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PreflightReadFunctionConcurrency",
                actions=["lambda:GetFunctionConcurrency"],
                resources=[
                    stack.format_arn(
                        service="lambda",
                        resource="function",
                        resource_name=f"{stack.stack_name}-*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PreflightReadCertificates",
                actions=["acm:DescribeCertificate"],
                resources=[
                    stack.format_arn(
                        service="acm", region="us-east-1", resource="certificate", resource_name="*"
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PreflightReadAccountSettings",
                actions=["lambda:GetAccountSettings", "ec2:DescribeAvailabilityZones"],
                resources=["*"],
            )
        )

    def _stack_arns(self) -> str:
        """This stack and its companions (`<stack>-...`) in any region of the account."""
        return self._stack.format_arn(
            service="cloudformation",
            region="*",
            resource="stack",
            resource_name=f"{self._stack.stack_name}*/*",
        )

    def _verify_policy(self, props: CiIdentitiesProps) -> iam.ManagedPolicy:
        stack = self._stack
        root = PLATFORM_NAME_ROOT
        statements = [
            iam.PolicyStatement(
                sid="StacksAndDrift",
                actions=[
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:DescribeStackEvents",
                    # verify lists the stack's resources first; the policy is whole without ReadStacks.
                    "cloudformation:ListStackResources",
                    "cloudformation:DetectStackDrift",
                    "cloudformation:DetectStackResourceDrift",
                    "cloudformation:DescribeStackResourceDrifts",
                ],
                resources=[self._stack_arns()],
            ),
            iam.PolicyStatement(
                sid="Database",
                actions=["rds:DescribeDBClusters", "rds:DescribeDBInstances"],
                resources=[
                    stack.format_arn(service="rds", resource="cluster", resource_name="*", arn_format=_COLON),
                    stack.format_arn(service="rds", resource="db", resource_name="*", arn_format=_COLON),
                ],
            ),
            iam.PolicyStatement(
                sid="SecretMetadataOnly",
                actions=["secretsmanager:DescribeSecret"],
                resources=[
                    stack.format_arn(
                        service="secretsmanager", resource="secret", resource_name=name, arn_format=_COLON
                    )
                    for name in (f"{root}/*", "rds!cluster-*")
                ],
            ),
            iam.PolicyStatement(
                sid="ContractParameters",
                actions=["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                resources=[stack.format_arn(service="ssm", resource="parameter", resource_name=f"{root}/*")],
            ),
            iam.PolicyStatement(
                sid="CdnDistributions",
                actions=["cloudfront:GetDistribution", "cloudfront:GetDistributionConfig"],
                resources=[
                    stack.format_arn(
                        service="cloudfront", region="", resource="distribution", resource_name="*"
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="EcsServices",
                actions=["ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeTasks"],
                resources=[
                    stack.format_arn(service="ecs", resource="cluster", resource_name="*"),
                    stack.format_arn(service="ecs", resource="service", resource_name="*"),
                    stack.format_arn(service="ecs", resource="task", resource_name="*"),
                ],
            ),
            iam.PolicyStatement(
                sid="Functions",
                actions=["lambda:GetFunction", "lambda:GetFunctionConfiguration"],
                resources=[
                    stack.format_arn(
                        service="lambda", resource="function", resource_name="*", arn_format=_COLON
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="DescribeActionsWithoutResourceLevelPermissions",
                actions=[
                    "cloudformation:ListStacks",
                    # Supports no resource type in the IAM Service Authorization Reference: on a stack
                    # ARN it would be denied (`blog-infra check`'s iam-reference gate reports that).
                    "cloudformation:DescribeStackDriftDetectionStatus",
                    "secretsmanager:ListSecrets",
                    "ecs:DescribeTaskDefinition",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeNatGateways",
                    "ec2:DescribeInternetGateways",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSecurityGroupRules",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:DescribeFlowLogs",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "cloudfront:ListDistributions",
                ],
                resources=["*"],
            ),
        ]
        self._bucket_reads: iam.PolicyStatement | None = None
        if props.verified_buckets:
            self._bucket_reads = _bucket_configuration(props.verified_buckets)
            statements.append(self._bucket_reads)
        return iam.ManagedPolicy(
            self,
            "VerifyPolicy",
            description="Read-only actions of `blog-infra verify`: configuration and drift, never data.",
            statements=statements,
        )

    def verify_bucket_configuration(self, *buckets: s3.IBucket) -> None:
        """Let `blog-infra verify` read the configuration of `buckets` too: the buckets of modules made
        after this one (verify checks every bucket of the stack, and a refused read is "could not
        check", exit 5)."""
        if self._bucket_reads is None:
            self._bucket_reads = _bucket_configuration(buckets)
            self.verify_policy.add_statements(self._bucket_reads)
        else:
            self._bucket_reads.add_resources(*(bucket.bucket_arn for bucket in buckets))


def _bucket_configuration(buckets: tuple[s3.IBucket, ...]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="BucketConfiguration",
        actions=[
            "s3:GetBucketLocation",
            "s3:GetBucketPolicy",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketVersioning",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketTagging",
            "s3:GetBucketNotification",
            "s3:GetEncryptionConfiguration",
            "s3:GetLifecycleConfiguration",
        ],
        resources=[bucket.bucket_arn for bucket in buckets],
    )


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _validate(props: CiIdentitiesProps) -> None:
    ids = (("circleci_org_id", props.circleci_org_id), ("circleci_project_id", props.circleci_project_id))
    for field, value in ids:
        if not _is_uuid(value):
            raise ValueError(
                f"CiIdentities {field} {value!r} must be a UUID such as 3f9c1a2e-8b7d-4c6e-9a1f-0e2d3c4b5a69 "
                "(CircleCI shows it under Settings > Overview)"
            )
    if not _BRANCH.fullmatch(props.main_branch):
        raise ValueError(
            f"CiIdentities main_branch {props.main_branch!r} must be a plain branch name "
            "(letters, digits, ._/-; no wildcards), e.g. main"
        )
    if props.circleci_vcs_origin is not None and not _VCS_ORIGIN.fullmatch(props.circleci_vcs_origin):
        raise ValueError(
            f"CiIdentities circleci_vcs_origin {props.circleci_vcs_origin!r} "
            "must look like github.com/<org>/<repo>"
        )
    if not _TEAM_SLUG.fullmatch(props.vercel_team_slug):
        raise ValueError(
            f"CiIdentities vercel_team_slug {props.vercel_team_slug!r} must be lowercase letters, "
            "digits and '-' (the vercel.com/<team> URL segment)"
        )
    if not _PROJECT.fullmatch(props.vercel_project):
        raise ValueError(
            f"CiIdentities vercel_project {props.vercel_project!r} must be a Vercel project name "
            "(lowercase letters, digits, '.', '_', '-'; at most 100)"
        )
    if not _ENVIRONMENT.fullmatch(props.vercel_environment):
        raise ValueError(
            f"CiIdentities vercel_environment {props.vercel_environment!r} must be a Vercel environment "
            "such as production or preview"
        )
    for _, prefix in props.frontend_read:
        if not prefix or prefix.startswith("/") or not prefix.endswith("/") or any(c in prefix for c in "*?"):
            raise ValueError(
                f"CiIdentities frontend_read prefix {prefix!r} must be a key prefix ending with '/', "
                "without a leading '/' or wildcards, e.g. designs/"
            )
    if not _ROLE_NAME.fullmatch(props.role_name_prefix):
        raise ValueError(
            f"CiIdentities role_name_prefix {props.role_name_prefix!r} "
            "may hold only letters, digits and +=,.@_-"
        )
    longest = max(len(suffix) for suffix in _ROLE_SUFFIXES)
    if len(props.role_name_prefix) + 1 + longest > 64:
        raise ValueError(
            f"CiIdentities role_name_prefix {props.role_name_prefix!r} makes role names over 64 characters; "
            f"use at most {63 - longest} characters"
        )
    if not _QUALIFIER.fullmatch(props.cdk_qualifier):
        raise ValueError(
            f"CiIdentities cdk_qualifier {props.cdk_qualifier!r} must be 1-10 lowercase letters or digits"
        )
    for region in props.bootstrap_regions:
        if not _REGION.fullmatch(region):
            raise ValueError(
                f"CiIdentities bootstrap_regions entry {region!r} is not a region name such as us-east-1"
            )
    for thumbprint in props.circleci_thumbprints + props.vercel_thumbprints:
        if not _THUMBPRINT.fullmatch(thumbprint):
            raise ValueError(
                f"CiIdentities thumbprint {thumbprint!r} must be 40 hexadecimal characters (SHA-1)"
            )
    if len(props.circleci_thumbprints) > 5 or len(props.vercel_thumbprints) > 5:
        raise ValueError("CiIdentities accepts at most 5 thumbprints per provider (an IAM limit)")
