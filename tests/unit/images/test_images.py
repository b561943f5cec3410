"""Every image the platform runs exists: built by us from a Dockerfile whose base was published, or
blog_portal's, and always pulled from the environment's own ECR repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blog_infra.sandbox import images as sandbox_images
from blog_infra.sandbox.taskdef import Resolver, containers
from infra import images
from infra.modules.apps.prefect import construct as prefect


def test_the_prefect_dockerfiles_base_was_published_by_prefects_release_workflow() -> None:
    base = images.PREFECT_IMAGE.dockerfile.base
    assert images.unpublished_reason(base) is None


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        # prefect-aws 0.7.12 was released while Prefect 3.8.5 was the latest: its images say prefect3.8.5.
        ("prefecthq/prefect-aws:0.7.12-python3.12-prefect3.9.1", "was never published"),
        ("prefecthq/prefect:3.9.2-python3.12", "not a release recorded"),
        ("prefecthq/prefect:3.9.1-python3.9", "no python3.9 image"),
        ("library/python:3.12-slim", "no publication evidence"),
    ],
)
def test_a_tag_the_publishers_release_process_never_pushed_is_refused(reference: str, reason: str) -> None:
    found = images.unpublished_reason(reference)
    assert found is not None and reason in found


def test_the_tag_prefect_aws_released_with_is_published() -> None:
    assert images.unpublished_reason("prefecthq/prefect-aws:0.7.12-python3.12-prefect3.8.5") is None


def test_the_image_tag_follows_the_dockerfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a copy of the Prefect image's directory
    original = images.PREFECT_IMAGE.tag
    (tmp_path / "prefect").mkdir()
    dockerfile = (images.PREFECT_IMAGE.directory / "Dockerfile").read_text()
    (tmp_path / "prefect" / "Dockerfile").write_text(dockerfile)
    monkeypatch.setattr(images, "IMAGES_ROOT", tmp_path)
    before = images.BuiltImage("prefect").tag
    # WHEN one line of it changes
    (tmp_path / "prefect" / "Dockerfile").write_text(dockerfile + "RUN uv pip install --system six==1.16.0\n")
    after = images.BuiltImage("prefect").tag
    # THEN the tag changes (ECR's immutable tags keep one build per tag), the version stays readable
    assert before != after
    assert before.startswith("3.9.1-") and after.startswith("3.9.1-")
    assert before == original


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a:1\nFROM b:2\n", "one FROM line"),
        ("FROM a:1\nRUN pip install x==1\n", "is not a `uv pip install --system`"),
        ("FROM a:1\nRUN uv pip install --system prefect-aws\n", "is not pinned"),
        ("FROM a:1\nUSER 1000\n", "USER is not modeled"),
    ],
)
def test_a_dockerfile_the_sandbox_cannot_model_is_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    with pytest.raises(images.ImageError, match=message):
        images.Dockerfile.parse(tmp_path / "Dockerfile")


def test_the_worker_runs_the_servers_prefect() -> None:
    # The API, the services and the worker run one image; its model has Prefect once, at the base's version.
    model = sandbox_images.model(
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/x:{prefect.DEFAULT_IMAGE_TAG}"
    )
    base = sandbox_images.model(images.PREFECT_IMAGE.dockerfile.base)
    assert model.version_of("prefect") == base.version_of("prefect") == "3.9.1"
    assert model.version_of("prefect-aws") == "0.7.12"
    assert model.version_of("prefect-redis") == base.version_of("prefect-redis")
    assert [r for r in model.packages if r.startswith("prefect[")] == ["prefect[redis,client,otel]==3.9.1"]


def _task_images(template: dict[str, Any], account: str, region: str) -> dict[str, str]:
    resolver = Resolver(template, account=account, region=region)
    return {
        f"{task}/{container.name}": container.image
        for task, found in containers(template, resolver).items()
        for container in found
    }


@pytest.mark.parametrize("env", ["prod", "local"])
def test_every_task_pulls_from_the_environments_own_ecr_repositories(
    env: str, synthesized: dict[str, Any], prod_config: Any, local_config: Any
) -> None:
    config = {"prod": prod_config, "local": local_config}[env]
    template = synthesized[env].to_json()
    found = _task_images(template, config.account_id, config.region)
    assert found
    registry = f"{config.account_id}.dkr.ecr.{config.region}.amazonaws.com/"
    for where, image in found.items():
        assert image.startswith(registry), f"{where} pulls {image} from outside the account's ECR"
        tag = image.rpartition(":")[2]
        if "/backstage" in where.lower() or where.startswith("Backstage"):
            assert tag == config.backstage.image_tag, where
        else:
            assert tag == images.PREFECT_IMAGE.tag, where
            assert sandbox_images.model(image).version_of("prefect") == "3.9.1"
