"""Day 0 on the emulator: `local up` runs the sequence a new account needs. The first deploy creates
the image repositories and the services at zero tasks; the images are pushed (stand-ins here); a
second deploy starts the services. Afterwards a deploy refuses to start tasks whose image is missing."""

from __future__ import annotations

import pytest

from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration


def _services(platform: LocalPlatform) -> dict[str, int]:
    ecs = platform.client("ecs")
    [cluster] = ecs.list_clusters()["clusterArns"]
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    described = ecs.describe_services(cluster=cluster, services=arns)["services"]
    return {service["serviceName"]: service["desiredCount"] for service in described}


def _repository(platform: LocalPlatform, logical_id: str) -> str:
    found = platform.client("cloudformation").describe_stack_resource(
        StackName="blog-local", LogicalResourceId=logical_id
    )
    return str(found["StackResourceDetail"]["PhysicalResourceId"])


def test_up_deployed_the_services_waiting_then_pushed_their_images_and_started_them(
    platform: LocalPlatform,
) -> None:
    # GIVEN the up of an empty emulator WHEN it finished
    # THEN it said which services waited and what it pushed, and deployed a second time
    assert "backstage waits at 0 tasks for" in platform.up_output
    prefect_repository = _repository(platform, "PrefectImageRepository")
    assert f"prefect waits at 0 tasks for {prefect_repository}:" in platform.up_output
    assert "(a stand-in for images/prefect)" in platform.up_output
    assert platform.up_output.count("Deployed blog-local") == 2
    # AND every service now runs at its configured count
    counts = _services(platform)
    assert counts and all(count >= 1 for count in counts.values()), counts
    # AND each image is in its repository under the tag the task definitions name
    status = platform.cli("images", "status", "--env", "local")
    assert status.stdout.count(" yes ") == 2


def test_a_running_service_whose_image_is_missing_is_refused_and_nothing_deploys(
    platform: LocalPlatform,
) -> None:
    # GIVEN the Prefect image gone from its repository while Prefect runs
    ecr = platform.client("ecr")
    repository = _repository(platform, "PrefectImageRepository")
    [image] = ecr.describe_images(repositoryName=repository)["imageDetails"]
    [tag] = image["imageTags"]
    manifest = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"][0]
    ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": tag}])
    try:
        before = _services(platform)
        # WHEN a deploy is asked for
        result = platform.cli("deploy", "--env", "local", check=False)
        # THEN it is refused in one line naming the image and who pushes it; nothing changed
        assert result.returncode == 4, result.stdout + result.stderr
        [line] = result.stderr.strip().splitlines()
        assert f"{repository}:{tag} is not in ECR and prefect is running" in line
        assert "blog-infra images push --env local" in line
        assert "Traceback" not in result.stderr
        assert _services(platform) == before
        # AND the plan does not refuse: it comes before the push
        assert platform.cli("diff", "--env", "local", check=False).returncode == 0
    finally:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=manifest["imageManifest"],
            imageManifestMediaType=manifest["imageManifestMediaType"],
            imageTag=tag,
        )
