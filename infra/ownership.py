"""Who owns what: the platform's components, the sibling repositories and the external services.

Each module declares its ownership once, as `OWNERSHIP = Ownership(...)` in its package
`__init__.py`; `module_ownerships()` collects those declarations, and `component_tags()` turns them
into the `component` tag of every resource the module creates. The root stack's own pieces, the
external services, the items of the seed's ownership map that this repository does not own, and
the related repositories are declared here. `docs/ownership.md` and `catalog-info.yaml` are
generated from this model (`blog-infra docs`).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CDK is loaded only by the functions that walk a stack
    from aws_cdk import Stack
    from constructs import IConstruct

DEFAULT_COMPONENT = "platform"
"""The component of stack-level helpers CDK adds (log retention, custom resource providers)."""
MODULES_DIR = Path(__file__).resolve().parent / "modules"
MODULES_PACKAGE = "infra.modules"

_SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class OwnershipError(Exception):
    """A module without a declaration, or a declaration that contradicts the model."""


class Owned(Enum):
    """Whether this repository owns a component, as the seed's ownership map says it."""

    YES = "Yes"
    NO = "No"
    INFRA_ONLY = "No (code), Yes (infra)"
    """This repository provisions the infrastructure; a sibling repository owns the code it runs."""


class Repository(StrEnum):
    """The repositories that make up the platform."""

    BLOG_INFRA = "blog_infra"
    BLOG_PORTAL = "blog_portal"
    BLOG_DATA = "blog_data"
    BLOG_CODE = "blog_code"
    BLOG_DOCS = "blog_docs"
    BLOG_CONTENT = "blog_content"


@dataclass(frozen=True)
class RelatedRepository:
    """One row of the related-repositories table."""

    name: Repository
    role: str


RELATED_REPOSITORIES: tuple[RelatedRepository, ...] = (
    RelatedRepository(
        Repository.BLOG_INFRA,
        "AWS infrastructure as AWS CDK (Python) deployed through CloudFormation, and CI/CD for the "
        "platform (this repository; the seed's Terraform)",
    ),
    RelatedRepository(
        Repository.BLOG_PORTAL,
        "Backstage application and configuration that runs on the Backstage ECS service",
    ),
    RelatedRepository(
        Repository.BLOG_DATA,
        "Prefect application and data pipelines that use S3, Neo4j Aura and Cloudinary; publishes the "
        "ork processor's code",
    ),
    RelatedRepository(Repository.BLOG_CODE, "Next.js public blog application deployed on Vercel"),
    RelatedRepository(Repository.BLOG_DOCS, "System documentation repo for a broader audience"),
    RelatedRepository(Repository.BLOG_CONTENT, "Markdown and MDX content for the blog"),
)


@dataclass(frozen=True, kw_only=True)
class Surface:
    """A row of the ownership map that a component splits into (e.g. one bucket among the module's)."""

    title: str
    """What the row is called, e.g. `S3 design-files bucket`."""
    consumers: tuple[str, ...]
    """Who consumes this part, as people name them."""


@dataclass(frozen=True, kw_only=True)
class Ownership:
    """The ownership of one component of the platform."""

    component: str
    """Identifier: the `component` tag of its resources and its name in the catalog, e.g. `network`."""
    title: str
    """Component or surface, as the ownership map names it, e.g. `VPC, subnets, routing`."""
    description: str
    """What it is, in one or two sentences."""
    consumers: tuple[str, ...]
    """Primary consumers, as people name them, e.g. `Portal users`."""
    repositories: tuple[Repository, ...] = ()
    """Sibling repositories involved: they consume it, or own its code."""
    owned: Owned = Owned.YES
    """Whether this repository owns it."""
    seed_location: str | None = None
    """Where the seed's Terraform kept it, e.g. `infra/modules/core/s3-data`; None when the seed has no
    such location."""
    surfaces: tuple[Surface, ...] = ()
    """Rows of the ownership map it splits into; empty: one row, titled `title`."""
    location: str | None = None
    """Where it lives; None in a module's declaration: the registry sets the module's folder."""

    def __post_init__(self) -> None:
        if not _SLUG.match(self.component):
            raise OwnershipError(
                f"Ownership component {self.component!r} must be lowercase words joined by '-' "
                "(it is a tag value and a Backstage entity name)"
            )
        if not self.title.strip() or not self.description.strip():
            raise OwnershipError(f"Ownership {self.component!r} needs a title and a description")
        if not self.consumers:
            raise OwnershipError(f"Ownership {self.component!r} names no primary consumer")
        if Repository.BLOG_INFRA in self.repositories:
            raise OwnershipError(
                f"Ownership {self.component!r}: repositories lists the sibling repositories; "
                "blog_infra is this one"
            )

    def rows(self) -> tuple[Surface, ...]:
        """The rows of the ownership map: its surfaces, or itself."""
        return self.surfaces or (Surface(title=self.title, consumers=self.consumers),)


@dataclass(frozen=True, kw_only=True)
class ExternalService:
    """A managed service outside AWS that the platform integrates with."""

    name: str
    """Its name, e.g. `Neo4j Aura`."""
    slug: str
    """Identifier in the catalog, e.g. `neo4j-aura`."""
    kind: str
    """What it is to the platform, e.g. `Graph database`."""
    integration: str
    """How this repository integrates with it."""
    components: tuple[str, ...]
    """Components (of this repository) that carry the integration."""
    repositories: tuple[Repository, ...]
    """Sibling repositories that use it."""
    url: str
    """Its home page."""


EXTERNAL_SERVICES: tuple[ExternalService, ...] = (
    ExternalService(
        name="Cloudflare",
        slug="cloudflare",
        kind="DNS and proxy",
        integration="Modeled: `blog-infra dns plan` prints the proxied CNAMEs to CloudFront, the "
        "certificate's validation records and the origin lock's request header transform rule (its value "
        "from Secrets Manager, never printed); `blog-infra dns apply` manages them in the zone.",
        components=("edge",),
        repositories=(),
        url="https://www.cloudflare.com",
    ),
    ExternalService(
        name="Neo4j Aura",
        slug="neo4j-aura",
        kind="Graph database",
        integration="A read-write connection secret for the flow runs and the ork processor, and a "
        "read-only login of its own for the public frontend, in Secrets Manager (placeholders until "
        "operators set them); their ARNs are published in the consumer contract.",
        components=("secrets", "ork-processor"),
        repositories=(Repository.BLOG_DATA, Repository.BLOG_CODE),
        url="https://neo4j.com/cloud/platform/aura-graph-database/",
    ),
    ExternalService(
        name="Cloudinary",
        slug="cloudinary",
        kind="Image CDN",
        integration="Credentials (with the API secret) for the flow runs and the ork processor, and the "
        "browser-facing values only (cloud name, API key) for the public frontend, in Secrets Manager "
        "(placeholders until operators set them); their ARNs are published in the consumer contract.",
        components=("secrets", "ork-processor"),
        repositories=(Repository.BLOG_DATA, Repository.BLOG_CODE),
        url="https://cloudinary.com",
    ),
    ExternalService(
        name="Vercel",
        slug="vercel",
        kind="Hosting of the public blog frontend",
        integration="An OIDC provider for the Vercel team and a read-only role the production "
        "deployments of blog_code assume to read the design-files bucket's public prefix, the frontend's "
        "own secrets (read-only Neo4j login, Cloudinary cloud name and API key) and its contract values.",
        components=("iam-ci",),
        repositories=(Repository.BLOG_CODE,),
        url="https://vercel.com",
    ),
    ExternalService(
        name="CircleCI",
        slug="circleci",
        kind="CI/CD",
        integration="An OIDC provider for the CircleCI organization; pull requests assume the plan "
        "role, pipelines of the main branch the deploy role. No long-lived AWS key.",
        components=("iam-ci",),
        repositories=(),
        url="https://circleci.com",
    ),
)


PLATFORM = Ownership(
    component=DEFAULT_COMPONENT,
    title="Root stack and CDK helpers",
    description="The root stack that composes and wires the modules, and the helper functions CDK adds "
    "at stack level (log retention, bucket notifications, default security group restriction).",
    consumers=("Every module",),
    location="infra/stack.py",
    seed_location="infra/envs/prod",
)
"""The root stack; resources outside every module carry its component."""

CONTRACT = Ownership(
    component="contract",
    title="Consumer contract (SSM parameters and stack outputs)",
    description="Every value a sibling repository reads, published as an SSM parameter under "
    "`/blog/<env>/` and as a stack output; see docs/outputs.md.",
    consumers=("blog_portal", "blog_data", "blog_code", "CircleCI"),
    repositories=(Repository.BLOG_PORTAL, Repository.BLOG_DATA, Repository.BLOG_CODE),
    location="infra/contract.py",
)

ROOT_COMPONENTS: dict[str, Ownership] = {"infra.stack": PLATFORM, "infra.contract": CONTRACT}
"""Pieces of the root stack that are not modules, by the Python module that defines them."""

NOT_OWNED: tuple[Ownership, ...] = (
    Ownership(
        component="prefect-flows",
        title="Prefect flows",
        description="The ETL / data pipelines; they run as ECS tasks on the platform's Prefect work pool "
        "with the flow-run roles, buckets and secrets provisioned here.",
        consumers=("Defined in blog_data",),
        repositories=(Repository.BLOG_DATA,),
        owned=Owned.NO,
        location="blog_data",
    ),
    Ownership(
        component="blog-frontend",
        title="Public blog frontend",
        description="The Next.js public blog on Vercel; through the read-only frontend role it reads the "
        "design-files bucket's public/ prefix and secrets of its own: a read-only Neo4j Aura login and "
        "only the Cloudinary values a browser-facing site needs (never the pipelines' credentials).",
        consumers=("Uses Neo4j Aura, Cloudinary, S3",),
        repositories=(Repository.BLOG_CODE,),
        owned=Owned.NO,
        location="Vercel infra, blog_code",
    ),
)
"""Items of the seed's ownership map that other repositories own."""


@dataclass(frozen=True, kw_only=True)
class ReadAccess:
    """Who may read one secret or bucket, and why: the ownership map at the level of roles."""

    resource: str
    """The pinned logical id of the secret or bucket, e.g. `Neo4jAuraSecret`."""
    readers: tuple[str, ...]
    """Roles, named as `infra.template_access.Role.key`: the role name after `<stack>-`, or the
    logical id without CDK's hash for roles CloudFormation names."""
    reason: str


_EXECUTION = "ECS injects it into the task's containers at start (the task definition's execution role)"
READ_ACCESS: tuple[ReadAccess, ...] = (
    ReadAccess(
        resource="DatabaseBackstageSecret",
        readers=(
            "DatabaseBootstrapRole",
            "DatabaseRotationRole",
            "BackstageTaskDefinitionExecutionRole",
            "backstage-task",
        ),
        reason="Backstage's database login: created and rotated by the rds module's functions; "
        f"{_EXECUTION}; the portal task reads it by the ARN the contract hands blog_portal.",
    ),
    ReadAccess(
        resource="DatabasePrefectSecret",
        readers=(
            "DatabaseBootstrapRole",
            "DatabaseRotationRole",
            "PrefectApiTaskDefinitionExecutionRole",
            "PrefectServicesTaskDefinitionExecutionRole",
        ),
        reason=f"The Prefect server's database login: created and rotated by the rds module; {_EXECUTION}.",
    ),
    ReadAccess(
        resource="DatabasePipelinesSecret",
        readers=("DatabaseBootstrapRole", "DatabaseRotationRole", "flow-run-task"),
        reason="The pipelines' database login: created and rotated by the rds module; read by blog_data's "
        "flow runs.",
    ),
    ReadAccess(
        resource="Neo4jAuraSecret",
        readers=("flow-run-task", "ork-processor"),
        reason="The read-write Neo4j Aura login: blog_data's flow runs and the ork processor write "
        "the graph.",
    ),
    ReadAccess(
        resource="CloudinarySecret",
        readers=("flow-run-task", "ork-processor"),
        reason="Cloudinary credentials with the API secret: blog_data's flow runs and the ork "
        "processor upload.",
    ),
    ReadAccess(
        resource="FrontendNeo4jAuraSecret",
        readers=("frontend",),
        reason="The public frontend's read-only Neo4j Aura login (least privilege: the site only reads).",
    ),
    ReadAccess(
        resource="FrontendCloudinarySecret",
        readers=("frontend",),
        reason="The Cloudinary values a browser-facing site needs (cloud name, API key), never the "
        "API secret.",
    ),
    ReadAccess(
        resource="PrefectAuthSecret",
        readers=(
            "PrefectApiTaskDefinitionExecutionRole",
            "PrefectServicesTaskDefinitionExecutionRole",
            "PrefectWorkerTaskDefinitionExecutionRole",
            "flow-run-execution",
            "flow-run-task",
        ),
        reason=f"PREFECT_API_AUTH_STRING: {_EXECUTION} for the server, the workers and every flow run; "
        "flows may also read it by the ARN the contract hands blog_data.",
    ),
    ReadAccess(
        resource="PrefectRedisAuthSecret",
        readers=("PrefectApiTaskDefinitionExecutionRole", "PrefectServicesTaskDefinitionExecutionRole"),
        reason=f"The Redis AUTH token of Prefect's messaging: {_EXECUTION}.",
    ),
    ReadAccess(
        resource="BackstageAppSecret",
        readers=("BackstageTaskDefinitionExecutionRole",),
        reason=f"Backstage's own settings (GitHub credentials): {_EXECUTION}.",
    ),
    ReadAccess(
        resource="EdgeOriginVerifySecret",
        readers=(),
        reason="The origin-lock header value: CloudFormation resolves it while deploying; no role of the "
        "platform reads it (`blog-infra dns apply` runs with the operator's credentials).",
    ),
    ReadAccess(
        resource="DataBucketCached",
        readers=("flow-run-task",),
        reason="Re-creatable copies the flows cache.",
    ),
    ReadAccess(resource="DataBucketRaw", readers=("flow-run-task",), reason="Raw inputs of the flows."),
    ReadAccess(resource="DataBucketClean", readers=("flow-run-task",), reason="The flows' cleaned outputs."),
    ReadAccess(
        resource="DataBucketDesignFiles",
        readers=("flow-run-task", "ork-processor", "frontend"),
        reason="Design files: the flows read them, the ork processor reads the uploaded .ork files, and the "
        "public frontend reads the public/ prefix only.",
    ),
    ReadAccess(resource="DataAccessLogBucket", readers=(), reason="S3 server access logs: operators only."),
    ReadAccess(
        resource="EdgeCloudFrontLogBucket", readers=(), reason="CloudFront access logs: operators only."
    ),
    ReadAccess(resource="EdgeLoadBalancerLogBucket", readers=(), reason="ALB access logs: operators only."),
)
"""Every role that may read a secret or a bucket's objects, by resource. The inverted contract walk
(`tests/invariants/test_contract_access.py`) fails on any other reader, and on a secret or bucket
missing here; `docs/ownership.md` lists it."""


@dataclass(frozen=True)
class DeclaredModule:
    """A module folder and its declaration."""

    package: str
    """Python package, e.g. `infra.modules.core.network`."""
    ownership: Ownership


def module_packages(modules_dir: Path = MODULES_DIR, package: str = MODULES_PACKAGE) -> list[str]:
    """Every module: a folder `<area>/<name>/` under `modules_dir` that holds a `construct.py`."""
    return [
        f"{package}.{construct.parent.parent.name}.{construct.parent.name}"
        for construct in sorted(modules_dir.glob("*/*/construct.py"))
    ]


def _location(package: str) -> str:
    return package.replace(".", "/")


def collect(packages: Iterable[str]) -> tuple[DeclaredModule, ...]:
    """Import each module package and read its `OWNERSHIP`; a package without one is an error."""
    declared = []
    for package in packages:
        ownership = getattr(importlib.import_module(package), "OWNERSHIP", None)
        if not isinstance(ownership, Ownership):
            raise OwnershipError(
                f"{_location(package)}/__init__.py declares no `OWNERSHIP = Ownership(...)`: every module "
                "declares its component, consumers and sibling repositories (see infra/ownership.py)"
            )
        if ownership.location is not None:
            raise OwnershipError(
                f"{_location(package)}: leave `location` unset, the registry sets it to the module's folder"
            )
        located = dataclasses.replace(ownership, location=_location(package))
        declared.append(DeclaredModule(package, located))
    names = [d.ownership.component for d in declared] + [o.component for o in ROOT_COMPONENTS.values()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise OwnershipError(f"component names declared more than once: {', '.join(duplicates)}")
    return tuple(declared)


@cache
def declared_modules() -> tuple[DeclaredModule, ...]:
    """Every module of `infra/modules` with its declaration."""
    return collect(module_packages())


def module_ownerships() -> tuple[Ownership, ...]:
    return tuple(module.ownership for module in declared_modules())


def owned_components() -> tuple[Ownership, ...]:
    """Everything this repository provisions: the modules, then the root stack's own pieces."""
    return (*module_ownerships(), *ROOT_COMPONENTS.values())


def component_names() -> frozenset[str]:
    """Every valid value of the `component` tag."""
    return frozenset(o.component for o in owned_components())


def ownership_of_python_module(python_module: str) -> Ownership:
    """The ownership declared for the code in `python_module` (a module's file, or the root stack)."""
    for module in declared_modules():
        if python_module == module.package or python_module.startswith(module.package + "."):
            return module.ownership
    if python_module in ROOT_COMPONENTS:
        return ROOT_COMPONENTS[python_module]
    raise OwnershipError(f"{python_module} belongs to no module of infra/modules and declares no ownership")


def ownership_of(construct: IConstruct) -> Ownership:
    """The ownership of the module whose class built `construct`."""
    return ownership_of_python_module(type(construct).__module__)


def component_tags(*constructs: IConstruct) -> dict[IConstruct, str]:
    """The `component` tag of each module construct, read from its module's declaration."""
    return {construct: ownership_of(construct).component for construct in constructs}


def resource_ownerships(stack: Stack) -> dict[str, Ownership]:
    """The ownership of every CloudFormation resource of `stack`, by logical id: the module that built
    the top-level construct it belongs to, or the root stack for what CDK adds at stack level.

    Synthesize the app first: CDK adds some resources while it synthesizes."""
    from aws_cdk import CfnResource, Stack

    owners: dict[str, Ownership] = {}
    depth = len(stack.node.scopes)
    for node in stack.node.find_all():
        if not isinstance(node, CfnResource) or Stack.of(node) is not stack:
            continue
        top = node.node.scopes[depth]
        python_module = type(top).__module__
        owner = ownership_of_python_module(python_module) if python_module.startswith("infra.") else PLATFORM
        owners[str(stack.resolve(node.logical_id))] = owner
    return owners
