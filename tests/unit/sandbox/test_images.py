"""The image models of the sandbox agree with the images the environments configure."""

from __future__ import annotations

import pytest

from blog_infra.sandbox import images
from infra.config import available_envs, available_profiles, load_config


def _configured_images() -> set[str]:
    found: set[str] = set()
    for env in available_envs():
        for profile in (None, *available_profiles()):
            config = load_config(env, profile=profile)
            found |= {config.prefect.image, config.prefect.worker_image}
    return found


@pytest.mark.parametrize("reference", sorted(_configured_images()))
def test_every_configured_prefect_image_has_a_model_whose_versions_its_tag_states(reference: str) -> None:
    model = images.model(reference)
    stated = images.versions_in_tag(reference)
    assert stated, f"{reference} is not an official Prefect image tag the sandbox can read"
    assert model.python == stated["python"]
    assert model.version_of("prefect") == stated["prefect"]
    assert model.version_of("prefect-aws") == stated.get("prefect-aws")
    assert model.version_of("prefect-redis"), "the servers' messaging needs prefect-redis pinned"


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
