"""catalog-info.yaml: valid for Backstage's own validators, complete, and linked to the stack."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from blog_infra.docs import catalog
from blog_infra.paths import REPO_ROOT


@pytest.fixture(scope="module")
def entities() -> list[dict[str, Any]]:
    return [e for e in yaml.safe_load_all((REPO_ROOT / "catalog-info.yaml").read_text()) if e]


def _ref(entity: dict[str, Any]) -> str:
    return f"{entity['kind'].lower()}:{entity['metadata']['name']}"


def test_every_entity_passes_backstage_validation(entities: list[dict[str, Any]]) -> None:
    # GIVEN the committed catalog WHEN @backstage/catalog-model's policies and kind validators check it
    problems = catalog.validate(entities)
    # THEN Backstage would ingest every entity
    assert problems == []


def test_an_invalid_entity_is_reported(entities: list[dict[str, Any]]) -> None:
    # GIVEN a component without owner and a resource whose name Backstage refuses
    broken = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "x"},
            "spec": {"type": "service", "lifecycle": "production"},
        },
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Resource",
            "metadata": {"name": "not valid"},
            "spec": {"type": "database", "owner": "group:platform-team"},
        },
    ]
    problems = catalog.validate(broken)
    # THEN the validator names both
    assert any("Component:x" in p and "owner" in p for p in problems), problems
    assert any("Resource:not valid" in p for p in problems), problems


def test_relations_point_at_entities_of_the_file(entities: list[dict[str, Any]]) -> None:
    known = {_ref(e) for e in entities}
    for entity in entities:
        spec = entity.get("spec", {})
        for target in spec.get("dependsOn", []):
            assert target in known, (_ref(entity), target)
        for api in spec.get("providesApis", []) + spec.get("consumesApis", []):
            assert f"api:{api}" in known, (_ref(entity), api)
        if "owner" in spec:
            assert spec["owner"] in known, (_ref(entity), spec["owner"])
        if "system" in spec:
            assert f"system:{spec['system']}" in known


def test_the_platform_is_one_system_of_services_resources_and_the_prefect_api(
    entities: list[dict[str, Any]],
) -> None:
    by_ref = {_ref(e): e for e in entities}
    assert [e for e in entities if e["kind"] == "System"] == [by_ref["system:rocketclub-blog"]]
    for component in ("portal", "pipelines-api", "prefect-worker", "ork-processor"):
        assert f"component:{component}" in by_ref
    for resource in (
        "aurora",
        "bucket-raw",
        "bucket-design-files",
        "ork-processor-failure-queue",
        "prefect-redis",
        "neo4j-aura-secret",
        "database-secret-backstage",
    ):
        assert f"resource:{resource}" in by_ref
    assert by_ref["component:pipelines-api"]["spec"]["providesApis"] == ["prefect-api"]
    assert by_ref["component:prefect-worker"]["spec"]["consumesApis"] == ["prefect-api"]
    assert "resource:aurora" in by_ref["component:portal"]["spec"]["dependsOn"]
    assert "resource:bucket-design-files" in by_ref["component:ork-processor"]["spec"]["dependsOn"]
    assert by_ref["component:prefect-flows"]["spec"]["owner"] == "group:blog-data-maintainers"


def test_annotations_link_resources_to_the_stack(entities: list[dict[str, Any]], docs_platform: Any) -> None:
    resources = docs_platform.template["Resources"]
    linked = 0
    for entity in entities:
        annotations = entity["metadata"].get("annotations", {})
        logical_id = annotations.get("rocketclub.online/logical-id")
        if logical_id:
            assert resources[logical_id]["Type"] == annotations["rocketclub.online/resource-type"]
            linked += 1
    assert linked >= 20
    raw = next(e for e in entities if e["metadata"]["name"] == "bucket-raw")["metadata"]["annotations"]
    assert raw["rocketclub.online/ssm-parameters"] == "/blog/prod/data/buckets/raw"
    assert raw["rocketclub.online/name"].endswith("-raw")
