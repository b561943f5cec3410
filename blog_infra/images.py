"""The services' images in their ECR repositories: which are there, which services wait for one, and
pushing the platform's own.

Both repositories (the portal's, which blog_portal pushes to, and Prefect's, which the pipeline pushes
`images/prefect` to) are created by the root stack, so on a stack's first deploy no image can be there
yet. `deploy` then creates those services at zero tasks (`EnvConfig.waiting_for_images`), and keeps
them there on later deploys until their image has been pushed; it refuses to deploy a running service
whose image is missing, which would start tasks that cannot pull it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

import botocore.exceptions

from blog_infra import stacks
from blog_infra.errors import BadInput, CliError, Unavailable
from blog_infra.exit_codes import ExitCode
from blog_infra.target import Target
from infra.config import EnvConfig
from infra.images import PREFECT_IMAGE

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
"""The platform the Prefect image is built for, by the environment's `prefect.cpu_architecture`. A
builder of the other architecture needs emulation (QEMU) set up for docker buildx."""


@dataclass(frozen=True)
class ServiceImage:
    service: Literal["backstage", "prefect"]
    """The module whose services run the image."""
    repository_logical_id: str
    tag: str
    pushed_by: str
    """Who pushes it, and how, for the one-line instructions."""


@dataclass(frozen=True)
class ImageState:
    image: ServiceImage
    repository: str | None
    """The repository's name, None while the stack has not created it."""
    present: bool

    @property
    def where(self) -> str:
        repository = self.repository or f"<{self.image.repository_logical_id}, not created yet>"
        return f"{repository}:{self.image.tag}"


def service_images(config: EnvConfig) -> tuple[ServiceImage, ...]:
    return (
        ServiceImage(
            "backstage",
            "BackstageRepository",
            config.backstage.image_tag,
            "blog_portal's build pushes it (docs/portal-contract.md)",
        ),
        ServiceImage(
            "prefect",
            "PrefectImageRepository",
            PREFECT_IMAGE.tag,
            f"push it with `blog-infra images push --env {config.name}` (the pipeline's deploy job does)",
        ),
    )


def _repository_name(target: Target, stack_name: str, logical_id: str) -> str | None:
    try:
        found = target.client("cloudformation").describe_stack_resource(
            StackName=stack_name, LogicalResourceId=logical_id
        )
    except botocore.exceptions.ClientError:
        return None
    name = found["StackResourceDetail"].get("PhysicalResourceId")
    return str(name) if name else None


def _has_tag(target: Target, repository: str, tag: str) -> bool:
    try:
        target.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in (
            "ImageNotFoundException",
            "RepositoryNotFoundException",
        ):
            return False
        raise Unavailable(
            f"could not read ECR repository {repository} on {target.description}: {exc}"
        ) from None
    return True


def states(config: EnvConfig, target: Target, *, deployed: bool) -> list[ImageState]:
    """Each service image and whether its repository holds it (DescribeStackResource, ECR DescribeImages)."""
    result = []
    for image in service_images(config):
        repository = (
            _repository_name(target, config.stack_name, image.repository_logical_id) if deployed else None
        )
        present = repository is not None and _has_tag(target, repository, image.tag)
        result.append(ImageState(image, repository, present))
    return result


def _held_in(template: dict[str, Any], service: str) -> bool:
    """Whether the deployed template created `service`'s ECS services at zero tasks."""
    prefix = {"backstage": "Backstage", "prefect": "Prefect"}[service]
    counts = [
        resource.get("Properties", {}).get("DesiredCount", 1)
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::ECS::Service" and logical_id.startswith(prefix)
    ]
    return bool(counts) and all(count == 0 for count in counts)


def with_waiting_services(
    config: EnvConfig, target: Target, *, refuse: bool = True
) -> tuple[EnvConfig, list[ImageState]]:
    """`config` with the services that must wait for their image at zero tasks, and the images' states.

    A first deploy waits for every image (their repositories do not exist yet); later, a service that
    waits keeps waiting until its image is there, and a running service whose image is missing is
    refused (exit 4), naming the image and who pushes it; without `refuse` (a plan, which comes
    before the push) it is left as it is.
    """
    deployed = stacks.deployed_template(target, config.stack_name)
    found = states(config, target, deployed=deployed is not None)
    waiting = set(config.waiting_for_images)
    for state in found:
        if state.present:
            continue
        if deployed is None or _held_in(deployed, state.image.service):
            waiting.add(state.image.service)
            continue
        if state.image.service in waiting or not refuse:
            continue
        raise CliError(
            f"image {state.where} is not in ECR and {state.image.service} is running: "
            f"{state.image.pushed_by}, then deploy (deploying first would start tasks that cannot pull it)",
            ExitCode.REFUSED,
        )
    return config.model_copy(update={"waiting_for_images": tuple(sorted(waiting))}), found


def waiting_lines(config: EnvConfig, found: list[ImageState]) -> list[str]:
    return [
        f"{state.image.service} waits at 0 tasks for {state.where}: {state.image.pushed_by}; "
        "then deploy again"
        for state in found
        if state.image.service in config.waiting_for_images and not state.present
    ]


def stand_in_manifest(description: str) -> str:
    """An OCI image manifest standing for an image on the emulator, which runs no containers: what a
    push leaves in ECR (the conformance layer runs the image's software from its model instead)."""
    digest = hashlib.sha256(description.encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 2,
                "digest": f"sha256:{digest}",
            },
            "layers": [],
            "annotations": {"org.opencontainers.image.description": description},
        },
        sort_keys=True,
    )


def register_stand_in(target: Target, repository: str, tag: str, description: str) -> None:
    """Put a stand-in manifest for `repository:tag` into the emulator's ECR (ECR PutImage)."""
    target.client("ecr").put_image(
        repositoryName=repository,
        imageManifest=stand_in_manifest(description),
        imageManifestMediaType=OCI_MANIFEST,
        imageTag=tag,
    )


def push(config: EnvConfig, target: Target) -> list[str]:
    """Push what is missing of the platform's own images (and on the emulator, a stand-in for the
    portal's): one line each of what was done. The stack must be deployed (it owns the repositories)."""
    if stacks.stack_status(target, config.stack_name) is None:
        raise Unavailable(
            f"{config.stack_name} is not deployed on {target.description}: deploy first "
            f"(blog-infra deploy --env {config.name}); it creates the repositories, and its services "
            "wait for the images"
        )
    done = []
    for state in states(config, target, deployed=True):
        ours = state.image.service == "prefect"
        if state.present or not (ours or config.is_emulated):
            continue
        if state.repository is None:
            raise CliError(f"{config.stack_name} has no {state.image.repository_logical_id}: deploy first")
        if config.is_emulated:
            what = "images/prefect" if ours else "blog_portal's portal image"
            register_stand_in(target, state.repository, state.image.tag, what)
            done.append(f"Registered {state.where} on {target.description} (a stand-in for {what}).")
        else:
            _docker_push(target, state.repository, PLATFORMS[config.prefect.cpu_architecture.value])
            done.append(f"Pushed {state.where}.")
    return done


def _docker_push(target: Target, repository: str, platform: str) -> None:
    """`docker buildx build --push` of images/prefect for `platform`, after `docker login` with an ECR
    token (GetAuthorizationToken)."""
    docker = shutil.which("docker")
    if docker is None:
        raise BadInput("docker is not installed: the Prefect image is built with docker buildx")
    token = target.client("ecr").get_authorization_token()["authorizationData"][0]
    registry = str(token["proxyEndpoint"]).removeprefix("https://")
    password = base64.b64decode(token["authorizationToken"]).decode().partition(":")[2]
    _run([docker, "login", "--username", "AWS", "--password-stdin", registry], stdin=password)
    _run(
        [
            docker,
            "buildx",
            "build",
            "--platform",
            platform,
            "--provenance=false",
            "--tag",
            f"{registry}/{repository}:{PREFECT_IMAGE.tag}",
            "--push",
            str(PREFECT_IMAGE.directory),
        ]
    )


def _run(command: list[str], *, stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, text=True, check=False)
    if result.returncode != 0:
        raise CliError(
            f"{' '.join(command[:3])} failed with exit code {result.returncode} (its output is above)"
        )
