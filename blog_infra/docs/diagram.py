"""`docs/architecture.{dot,svg,png}`: the architecture diagram, drawn with the `diagrams` library from the
synthesized stack.

Nodes are the platform's elements (`blog_infra.docs.platform`), the external services and the consumers;
arrows follow the template: listener rules, security-group rules, IAM grants, bucket notifications.
The DOT source is deterministic (node ids are the element keys; icons are named relative to the
`diagrams` package's resources), so it is committed and compared by `blog-infra docs --check`; the
images are rendered from it with Graphviz's `dot` only by `blog-infra docs`.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from types import TracebackType
from typing import Any

import diagrams
from diagrams import Cluster, Diagram, Edge, Node
from diagrams.aws.compute import ECR, ElasticContainerServiceService, Fargate, Lambda
from diagrams.aws.database import Aurora, ElasticacheForRedis
from diagrams.aws.integration import SQS
from diagrams.aws.management import CloudformationStack, ParameterStore
from diagrams.aws.network import CloudFront, ElbApplicationLoadBalancer
from diagrams.aws.security import SecretsManager
from diagrams.aws.storage import SimpleStorageServiceS3Bucket
from diagrams.onprem.ci import CircleCI
from diagrams.onprem.client import Users
from diagrams.onprem.database import Neo4J
from diagrams.onprem.vcs import Git
from diagrams.programming.framework import Nextjs
from diagrams.saas.cdn import Cloudflare
from diagrams.saas.media import Cloudinary

from blog_infra.docs.platform import WORKLOADS, Element, Kind, Platform, references
from infra.ownership import RELATED_REPOSITORIES, Repository

RESOURCES_DIR = Path(diagrams.__file__).resolve().parent.parent / "resources"
"""Where the `diagrams` package keeps its icons; the DOT source names icons relative to it."""

TRAFFIC = "#1f5fa8"
DATA = "#5b6770"
EXTERNAL = "#a05a00"
CODE = "#6d3fa0"

_ICONS: dict[Kind, type[Node]] = {
    Kind.SERVICE: ElasticContainerServiceService,
    Kind.FUNCTION: Lambda,
    Kind.FLOWS: Fargate,
    Kind.DATABASE: Aurora,
    Kind.BROKER: ElasticacheForRedis,
    Kind.BUCKET: SimpleStorageServiceS3Bucket,
    Kind.QUEUE: SQS,
    Kind.REGISTRY: ECR,
}


class _Drawing(Diagram):  # type: ignore[misc]
    """A `Diagram` that only builds the graph: rendering happens later, from the committed DOT."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        diagrams.setdiagram(None)


def _edge(
    color: str, label: str = "", *, dashed: bool = False, bold: bool = False, constraint: bool = True
) -> Edge:
    attributes: dict[str, Any] = {"color": color, "fontcolor": color, "fontsize": "15"}
    if not constraint:
        attributes["constraint"] = "false"
    if label:
        attributes["label"] = label
    if dashed:
        attributes["style"] = "dashed"
    elif bold:
        attributes["style"] = "bold"
    return Edge(**attributes)


def _cluster(label: str) -> Cluster:
    return Cluster(label, graph_attr={"fontsize": "16"})


def _label(element: Element) -> str:
    return textwrap.fill(element.title, width=18)


def _node(kind: type[Node], key: str, label: str) -> Node:
    return kind(label, nodeid=key.replace("-", "_"))


def _triggers(platform: Platform, function: Element) -> list[str]:
    """Logical ids of the buckets whose notifications invoke `function`."""
    found: list[str] = []
    for _, properties in platform.of_type("Custom::S3BucketNotifications"):
        referred = references(properties)
        if function.logical_id in referred:
            found += sorted(referred - {function.logical_id})
    return found


def dot_source(platform: Platform) -> str:
    """The diagram's Graphviz source, with icons relative to `RESOURCES_DIR`."""
    config, stack = platform.config, platform.stack
    elements = platform.elements
    secrets = [e for e in elements.values() if e.kind is Kind.SECRET]
    contract = stack.contract
    consumers = [
        r.name for r in RELATED_REPOSITORIES if any(r.name.value in v.consumers for v in contract.values)
    ]
    consumers = [r for r in consumers if r is not Repository.BLOG_INFRA]
    graph_attr = {
        "fontsize": "22",
        "pad": "0.6",
        "nodesep": "0.35",
        "ranksep": "0.9",
        "dpi": "72",
        "labelloc": "t",
    }
    title = f"RocketClub blog platform: {stack.stack_name} ({config.region}), from the synthesized stack"
    nodes: dict[str, Node] = {}
    with _Drawing(
        title,
        filename="architecture",
        direction="LR",
        curvestyle="curved",
        show=False,
        graph_attr=graph_attr,
        node_attr={"fontsize": "15"},
    ) as drawing:
        with _cluster("Internet"):
            users = _node(Users, "users", "Portal users,\npipeline operators")
            cloudflare = _node(Cloudflare, "cloudflare", "Cloudflare\nDNS + proxy\n(modeled)")
            circleci = _node(CircleCI, "circleci", "CircleCI")
        with _cluster("Consumers: sibling repositories"):
            repositories = {r: _node(Git, f"repo-{r.value}", r.value) for r in consumers}
            nodes["blog-frontend"] = _node(
                Nextjs, "blog-frontend", "Public blog frontend\n(blog_code on Vercel)"
            )
        with _cluster(f"AWS account {config.account_id}, {config.region}: stack {stack.stack_name}"):
            nodes["cloudfront"] = _node(CloudFront, "cloudfront", "CloudFront")
            cloudformation = _node(
                CloudformationStack, "cloudformation", "CloudFormation\n(plan / deploy roles)"
            )
            with _cluster("VPC"):
                nodes["load-balancer"] = _node(
                    ElbApplicationLoadBalancer, "load-balancer", "Application\nLoad Balancer\n(internal)"
                )
                with _cluster("ECS cluster (Fargate)"):
                    for element in elements.values():
                        if element.kind in (Kind.SERVICE, Kind.FLOWS):
                            nodes[element.key] = _node(_ICONS[element.kind], element.key, _label(element))
                with _cluster("Databases"):
                    for element in elements.values():
                        if element.kind in (Kind.DATABASE, Kind.BROKER):
                            nodes[element.key] = _node(_ICONS[element.kind], element.key, _label(element))
            for element in elements.values():
                if element.kind in (Kind.FUNCTION, Kind.QUEUE):
                    nodes[element.key] = _node(_ICONS[element.kind], element.key, _label(element))
            with _cluster("S3 data buckets"):
                for group in _bucket_groups(platform):
                    purposes = ", ".join(b.title.removesuffix(" bucket") for b in group)
                    noun = "buckets" if len(group) > 1 else "bucket"
                    bucket_node = _node(_ICONS[Kind.BUCKET], group[0].key, f"{purposes}\n{noun}")
                    for bucket in group:
                        nodes[bucket.key] = bucket_node
            secrets_node = _node(SecretsManager, "secrets", f"Secrets Manager\n({len(secrets)} secrets)")
            contract_node = _node(
                ParameterStore,
                "contract",
                f"Consumer contract\n{len(contract.values)} SSM parameters\n{contract.ssm_prefix}/...",
            )
        with _cluster("External services"):
            neo4j = _node(Neo4J, "neo4j-aura", "Neo4j Aura")
            cloudinary = _node(Cloudinary, "cloudinary", "Cloudinary")
        external = {"neo4j-aura": neo4j, "cloudinary": cloudinary}

        users >> _edge(TRAFFIC, "https", bold=True) >> cloudflare
        hosts = "\n".join(record.name for record in stack.edge.dns_records)
        cloudflare >> _edge(TRAFFIC, f"proxied CNAMEs\n{hosts}", bold=True) >> nodes["cloudfront"]
        for element in elements.values():
            if element.kind not in WORKLOADS:
                for target in platform.resource_dependencies(element):
                    if target.kind is Kind.LOAD_BALANCER and element.key in nodes:
                        nodes[element.key] >> _edge(TRAFFIC, "VPC origin", bold=True) >> nodes[target.key]
        for element in elements.values():
            for host in platform.routed_hosts(element):
                nodes["load-balancer"] >> _edge(TRAFFIC, host, bold=True) >> nodes[element.key]
        drawn: set[tuple[str, str]] = set()
        for element in elements.values():
            if element.kind not in WORKLOADS:
                continue
            source = nodes[element.key]
            loose = element.kind is Kind.WEBSITE
            for api in platform.connects_to(element):
                source >> _edge(TRAFFIC, "API") >> nodes[api.key]
            reached = platform.reaches(element)
            for other in elements.values():
                if other.kind in WORKLOADS and other is not element and set(other.roles) & reached:
                    source >> _edge(TRAFFIC, "starts", bold=True) >> nodes[other.key]
            triggered_by = _triggers(platform, element)
            for bucket in elements.values():
                if bucket.logical_id in triggered_by:
                    nodes[bucket.key] >> _edge(DATA, "*.ork uploads", bold=True) >> source
                    drawn.add((element.key, nodes[bucket.key].nodeid))
            secret_keys = set()
            for dependency in platform.depends_on(element):
                if dependency.kind is Kind.SECRET:
                    secret_keys.add(dependency.key)
                elif dependency.key in nodes and (element.key, nodes[dependency.key].nodeid) not in drawn:
                    drawn.add((element.key, nodes[dependency.key].nodeid))
                    label = "OIDC role" if loose else ""
                    source >> _edge(DATA, label) >> nodes[dependency.key]
            if secret_keys:
                source >> _edge(DATA, dashed=True) >> secrets_node
            for slug, service in external.items():
                if f"{slug}-secret" in secret_keys or (loose and slug in _services_of(element.repository)):
                    source >> _edge(EXTERNAL, dashed=True) >> service
        circleci >> _edge(EXTERNAL, "OIDC") >> cloudformation
        for repository, repository_node in repositories.items():
            count = sum(1 for v in contract.values if repository.value in v.consumers)
            repository_node >> _edge(CODE, f"reads {count} values", dashed=True) >> contract_node
    return _relative(str(drawing.dot.source))


def _bucket_groups(platform: Platform) -> list[list[Element]]:
    """The buckets, grouped by the consumers the contract publishes their names to."""
    consumers = {
        f"{platform.stack.contract.ssm_prefix}/{v.path}": v.consumers for v in platform.stack.contract.values
    }
    groups: dict[tuple[str, ...], list[Element]] = {}
    for element in platform.elements.values():
        if element.kind is Kind.BUCKET and element.logical_id:
            readers = sorted(
                {c for p in platform.ssm_parameters(element.logical_id) for c in consumers.get(p, ())}
            )
            groups.setdefault(tuple(readers), []).append(element)
    return list(groups.values())


def _services_of(repository: Repository | None) -> set[str]:
    from infra.ownership import EXTERNAL_SERVICES

    return {s.slug for s in EXTERNAL_SERVICES if repository in s.repositories}


def _relative(source: str) -> str:
    return source.replace(f'"{RESOURCES_DIR}/', '"')


_IMAGE_HREF = re.compile(r'xlink:href="([^"]+\.png)"')


def _inline_images(svg: str) -> str:
    """Embed the icons, so that the SVG shows them wherever it is opened."""

    def embed(match: re.Match[str]) -> str:
        path = Path(match.group(1))
        if not path.is_absolute():
            path = RESOURCES_DIR / path
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'xlink:href="data:image/png;base64,{data}"'

    return _IMAGE_HREF.sub(embed, svg)


def dot_binary() -> str | None:
    return shutil.which("dot")


def render(source: str, svg_path: Path, png_path: Path) -> None:
    """Render the DOT source to SVG (icons embedded) and PNG with Graphviz's `dot`."""
    executable = dot_binary()
    if executable is None:
        raise RuntimeError("Graphviz's `dot` is not installed (`make docs` installs it)")
    for fmt, path in (("svg", svg_path), ("png", png_path)):
        result = subprocess.run(
            [executable, f"-T{fmt}", f"-Gimagepath={RESOURCES_DIR}"],
            input=source.encode("utf-8"),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace').strip()}")
        output = result.stdout
        if fmt == "svg":
            output = _inline_images(output.decode("utf-8")).encode("utf-8")
        path.write_bytes(output)
