"""The ownership model: every module declares it; tags, contract and external services agree with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blog_infra.docs import ownership_doc
from infra.ownership import (
    EXTERNAL_SERVICES,
    MODULES_DIR,
    NOT_OWNED,
    PLATFORM,
    RELATED_REPOSITORIES,
    Owned,
    Ownership,
    OwnershipError,
    Repository,
    collect,
    component_names,
    declared_modules,
    module_packages,
    resource_ownerships,
)

SEED_ROWS = (
    "VPC, subnets, routing",
    "CloudFront + ALB",
    "Backstage ECS service",
    "Prefect access surface",
    "Aurora cluster",
    "S3 data buckets",
    "S3 design-files bucket",
    "IAM roles",
    "Secrets Manager secrets",
    "Prefect flows",
    "Lambda ork processor",
    "Public blog frontend",
)


def test_every_module_folder_declares_its_ownership() -> None:
    # GIVEN every folder of infra/modules that holds a construct.py
    folders = {p.parent.relative_to(MODULES_DIR.parent.parent) for p in MODULES_DIR.glob("*/*/construct.py")}
    # WHEN the registry collects the declarations
    declared = declared_modules()
    # THEN each folder has one, located at the folder, with a distinct component
    assert {Path(m.ownership.location or "") for m in declared} == {Path(str(f)) for f in folders}
    components = [m.ownership.component for m in declared]
    assert len(components) == len(set(components))


def _fake_modules(root: Path, package_name: str, init: str) -> Path:
    modules = root / package_name / "modules"
    (modules / "core" / "thing").mkdir(parents=True)
    for package in (root / package_name, modules, modules / "core"):
        (package / "__init__.py").write_text("")
    (modules / "core" / "thing" / "__init__.py").write_text(init)
    (modules / "core" / "thing" / "construct.py").write_text("")
    return modules


def test_a_module_without_a_declaration_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a module folder whose __init__.py declares nothing
    modules = _fake_modules(tmp_path, "undeclared", "")
    monkeypatch.syspath_prepend(str(tmp_path))
    # WHEN the registry collects it THEN it names the file to fix
    with pytest.raises(
        OwnershipError, match=r"undeclared/modules/core/thing/__init__.py declares no `OWNERSHIP"
    ):
        collect(module_packages(modules, "undeclared.modules"))


def test_a_module_may_not_declare_its_own_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init = (
        "from infra.ownership import Ownership\n"
        "OWNERSHIP = Ownership(component='thing', title='Thing', description='A thing.', "
        "consumers=('Someone',), location='elsewhere')\n"
    )
    modules = _fake_modules(tmp_path, "located", init)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OwnershipError, match="leave `location` unset"):
        collect(module_packages(modules, "located.modules"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"component": "Network"}, "lowercase words joined by '-'"),
        ({"consumers": ()}, "names no primary consumer"),
        ({"description": " "}, "needs a title and a description"),
        ({"repositories": (Repository.BLOG_INFRA,)}, "blog_infra is this one"),
    ],
)
def test_an_invalid_declaration_is_refused(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"component": "thing", "title": "Thing", "description": "A thing."}
    fields["consumers"] = ("Someone",)
    with pytest.raises(OwnershipError, match=message):
        Ownership(**{**fields, **changes})


def test_every_resource_is_tagged_with_the_component_of_the_module_that_created_it(
    docs_platform: Any,
) -> None:
    # GIVEN the synthesized prod stack and the module that built each resource (by construct path)
    owners = resource_ownerships(docs_platform.stack)
    resources = docs_platform.template["Resources"]
    assert set(owners) == set(resources)
    checked = 0
    for logical_id, resource in resources.items():
        tags = resource.get("Properties", {}).get("Tags")
        if isinstance(tags, list):
            values = {t["Key"]: t["Value"] for t in tags if isinstance(t, dict) and "Key" in t}
        elif isinstance(tags, dict):
            values = tags
        else:
            continue
        # THEN its component tag names a declared component, the one of the module that created it
        assert values.get("component") in component_names(), logical_id
        assert values["component"] == owners[logical_id].component, logical_id
        checked += 1
    assert checked > 100
    # AND what CDK adds at stack level belongs to the root stack
    assert {o.component for o in owners.values()} >= {PLATFORM.component, "contract", "network"}


def test_contract_consumers_are_related_repositories(docs_platform: Any) -> None:
    known = {r.name.value for r in RELATED_REPOSITORIES}
    for value in docs_platform.stack.contract.values:
        assert set(value.consumers) <= known, value.path


def test_external_services_name_declared_components() -> None:
    names = component_names()
    assert {s.name for s in EXTERNAL_SERVICES} == {
        "Neo4j Aura",
        "Cloudinary",
        "Vercel",
        "Cloudflare",
        "CircleCI",
    }
    for service in EXTERNAL_SERVICES:
        assert set(service.components) <= names, service.name


def test_items_owned_elsewhere_are_marked_as_such() -> None:
    assert {o.title for o in NOT_OWNED} == {"Prefect flows", "Public blog frontend"}
    assert all(o.owned is Owned.NO and o.location for o in NOT_OWNED)
    ork = next(m.ownership for m in declared_modules() if m.ownership.component == "ork-processor")
    assert ork.owned is Owned.INFRA_ONLY and Repository.BLOG_DATA in ork.repositories


def test_the_ownership_map_has_every_row_of_the_seed(docs_platform: Any) -> None:
    # GIVEN the generated ownership map
    table = ownership_doc.ownership_map(docs_platform)
    titles = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    # THEN each of the seed's rows is there, with its ownership and its seed location
    for row in SEED_ROWS:
        assert any(title.startswith(row) for title in titles), row
    assert "| S3 design-files bucket | Yes | [`infra/modules/core/s3_data`]" in table
    assert "`infra/modules/core/s3-data`" in table
    assert "| Lambda ork processor | No (code), Yes (infra) |" in table
    assert "| Prefect flows | No | — (blog_data) |" in table


def test_the_related_repositories_table_has_every_repository(docs_platform: Any) -> None:
    table = ownership_doc.related_repositories(docs_platform)
    for repository in Repository:
        assert f"| {repository.value} |" in table
