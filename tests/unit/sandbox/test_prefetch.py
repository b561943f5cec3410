"""`make test`'s prefetch of the conformance layer's runtimes (tests/conformance/prefetch.py): it
installs what the layer's fixtures install, and a failed install is reported, not raised."""

from __future__ import annotations

import pytest

from blog_infra.sandbox import images, runtime
from tests.conformance import prefetch


def test_it_installs_every_modeled_image_the_flow_image_and_the_backend_base_image_first() -> None:
    names = [what for what, _ in prefetch.installs()]
    assert names[: len(images.BASE_IMAGES)] == [f"image {r}" for r in images.BASE_IMAGES]
    assert {f"image {r}" for r in images.IMAGES} <= set(names)
    assert f"image {prefetch.FLOW_IMAGE} (examples/pipelines)" in names
    assert names[-1] == "the stock Backstage backend"
    assert len(names) == len(images.IMAGES) + 2


def test_a_failed_install_is_reported_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def broken() -> object:
        raise runtime.InstallError("could not install prefect==3.9.1: no network")

    monkeypatch.setattr(
        prefetch,
        "installs",
        lambda: [("image a", broken), ("image b", lambda: ran.append("b"))],
    )
    # WHEN the first of two installs fails
    code = prefetch.main()
    out = capsys.readouterr().out
    # THEN the second still ran, the failure is one line with the installer's message, and it exits 1
    assert ran == ["b"] and code == 1
    assert "prefetch: image a: failed: could not install prefect==3.9.1: no network" in out
    assert "prefetch: image b: ready after" in out and "1 failed" in out
