"""The image models of the sandbox agree with the images the environments configure."""

from __future__ import annotations

import pytest

from blog_infra.sandbox import images
from infra.images import BUILT_IMAGES


def test_each_built_image_has_a_model_from_its_dockerfile() -> None:
    for built in BUILT_IMAGES:
        model = images.model(f"123456789012.dkr.ecr.us-east-1.amazonaws.com/any:{built.tag}")
        base = images.model(built.dockerfile.base)
        assert model.entry_point == base.entry_point and model.user == base.user
        for requirement in built.dockerfile.installs:
            name, _, version = requirement.partition("==")
            assert model.version_of(name) == version


def test_a_tag_without_a_model_is_refused_with_the_file_to_edit() -> None:
    with pytest.raises(images.UnknownImage, match=r"blog_infra/sandbox/images.py"):
        images.model("prefecthq/prefect:3.9.2-python3.12")


def test_every_model_pins_every_package_and_starts_through_the_images_entry_point() -> None:
    for model in images.IMAGES.values():
        assert all("==" in requirement for requirement in model.packages), model.reference
        assert model.entry_point[-1] == images.ENTRYPOINT_PATH
        assert "uv pip install --system $EXTRA_PIP_PACKAGES" in model.script
        assert model.script.rstrip().endswith('exec "$@"')
        assert model.user is None
