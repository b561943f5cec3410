"""`docs/portal-contract.md`: what the portal image (blog_portal) must do and what it receives, read
from the synthesized prod template's `backstage` container and the portal module's constants."""

from __future__ import annotations

from typing import Any

from blog_infra.docs.platform import Platform
from infra.modules.apps.backstage import GITHUB_SECRETS_SETTING
from infra.modules.apps.backstage import construct as portal

CONTAINER = "backstage"

SKELETON = """# The portal image's contract

What the Backstage image that blog_portal builds and pushes must do to run on the platform, and what
the platform gives it. Generated from the prod task definition and `infra/modules/apps/backstage`;
`tests/conformance/backstage` runs a stock Backstage backend (`backend-defaults` with the catalog)
with exactly this task definition against TLS-only PostgreSQL and the role the Aurora bootstrap
creates, and checks each point.

## The container

<!-- BEGIN GENERATED: portal-runtime -->
<!-- END GENERATED: portal-runtime -->

## Environment

<!-- BEGIN GENERATED: portal-environment -->
<!-- END GENERATED: portal-environment -->

## Configuration the image's app-config files must give Backstage

<!-- BEGIN GENERATED: portal-config -->
<!-- END GENERATED: portal-config -->

## Why

- **Empty secret values.** ECS injects a JSON key holding `""` as an empty variable (the ECS agent
  prints the key's value with `fmt.Sprintf("%v", ...)`; only a missing key stops the task), and
  Backstage's config reader refuses an empty string (`Invalid type in config for key
  'integrations.github[0].token' in 'env', got empty-string, wanted string`): the catalog, and with
  it the backend, does not start. An unset variable instead leaves the key out. So the GitHub
  variables are given only once `backstage.github_secrets` is on, after `blog-infra secrets set
  backstage` stored real values.
- **Readiness, not liveness.** When a plugin fails to start, the backend logs `Backend startup
  failed` and keeps running: liveness stays 200, readiness 503. The container health check and the
  load balancer both ask readiness, so ECS replaces a task whose start failed.
- **One database, no CREATEDB.** The bootstrap's role owns its database and may not create others:
  `pluginDivisionMode: schema` keeps every plugin in it; `ensureExists: false` keeps Backstage from
  connecting to the `postgres` database to look for it, and then `ensureSchemaExists: true` is needed
  for the plugins' schemas to be created.
- **Verified TLS.** Aurora is reached over TLS only; `ssl.rejectUnauthorized` is set by the task, and
  Node.js trusts the RDS CA bundle the image ships at `NODE_EXTRA_CA_CERTS` (read once, at start):
  `ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem <that path>` in the
  Dockerfile. Without it the backend fails to start (`unable to verify the first certificate`).
- **Read-only root.** Only the tmpfs is writable. app-backend writes the injected configuration into
  the app bundle unless the bundle has `index.html.tmpl`, which it renders in memory instead.
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _container(platform: Platform) -> dict[str, Any]:
    for resource in platform.template["Resources"].values():
        if resource["Type"] != "AWS::ECS::TaskDefinition":
            continue
        for container in resource["Properties"]["ContainerDefinitions"]:
            if container["Name"] == CONTAINER:
                return container  # type: ignore[no-any-return]
    raise LookupError(f"the {platform.config.name} template has no {CONTAINER!r} container")


def _health_check_path(platform: Platform) -> str:
    paths = {
        str(resource["Properties"].get("HealthCheckPath"))
        for logical_id, resource in platform.template["Resources"].items()
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
        and logical_id.startswith("Backstage")
    }
    if len(paths) != 1:
        raise LookupError(f"expected one Backstage target group, found health check paths {sorted(paths)}")
    return paths.pop()


def _secret_name(platform: Platform, value_from: Any) -> tuple[str, str]:
    """(secret name, JSON key) of an ECS secret's ValueFrom (`Fn::Join` of the secret's Ref and `:key::`)."""
    reference, suffix = value_from["Fn::Join"][1]
    logical_id = reference["Ref"]
    name = platform.template["Resources"][logical_id]["Properties"].get("Name", logical_id)
    return str(name), str(suffix).strip(":")


def runtime(platform: Platform) -> str:
    container = _container(platform)
    health = container["HealthCheck"]
    probe = str(health["Command"][-1])
    (probed,) = (path for path in (portal.READINESS_PATH, portal.LIVENESS_PATH) if path in probe)
    tmpfs = container["LinuxParameters"]["Tmpfs"]
    environment = {item["Name"]: item["Value"] for item in container.get("Environment", [])}
    rows = [
        "| What | Value |",
        "|---|---|",
        f"| Port | `{container['PortMappings'][0]['ContainerPort']}` (HTTP) |",
        f"| Container health check | `node -e` GET `{probed}` must answer 200; every {health['Interval']} s, "
        f"timeout {health['Timeout']} s, {health['Retries']} retries after a {health['StartPeriod']} s "
        "start period |",
        f"| Load balancer health check | GET `{_health_check_path(platform)}` answers 200 |",
        f"| Liveness path (not checked) | `{portal.LIVENESS_PATH}` |",
        f"| User | `{container['User']}` (the Node.js image's `node` user) |",
        f"| Root filesystem | read-only: {str(container['ReadonlyRootFilesystem']).lower()} |",
        *(
            f"| Writable | `{mount['ContainerPath']}`, a {mount['Size']} MiB tmpfs "
            f"({', '.join(mount.get('MountOptions', []))}) |"
            for mount in tmpfs
        ),
        f"| CA bundle in the image | `{environment['NODE_EXTRA_CA_CERTS']}` (RDS global bundle) |",
        *(f"| File in the image | `{name}`: {_cell(why)} |" for name, why in portal.IMAGE_FILES.items()),
        f"| Stop | SIGTERM, then SIGKILL after {container['StopTimeout']} s |",
        "| Command | the image's own (the task sets none) |",
    ]
    return "\n".join(rows)


def environment(platform: Platform) -> str:
    container = _container(platform)
    rows = ["| Variable | Value or source |", "|---|---|"]
    for item in container.get("Environment", []):
        rows.append(f"| `{item['Name']}` | `{_cell(item['Value'])}` |")
    given = set()
    for item in container.get("Secrets", []):
        name, key = _secret_name(platform, item["ValueFrom"])
        given.add(item["Name"])
        rows.append(f"| `{item['Name']}` | secret `{name}`, key `{key}` |")
    for variable, key in portal.GITHUB_SECRETS.items():
        if variable not in given:
            rows.append(
                f"| `{variable}` | unset; once `{GITHUB_SECRETS_SETTING}` is on: the app secret's key "
                f"`{key}` |"
            )
    return "\n".join(rows)


def configuration(_platform: Platform) -> str:
    rows = ["| Key | Value | Why |", "|---|---|---|"]
    for key, value, why in portal.IMAGE_CONFIG:
        rows.append(f"| `{key}` | `{value}` | {_cell(why)} |")
    return "\n".join(rows)


def blocks(platform: Platform) -> dict[str, str]:
    return {
        "portal-runtime": runtime(platform),
        "portal-environment": environment(platform),
        "portal-config": configuration(platform),
    }
