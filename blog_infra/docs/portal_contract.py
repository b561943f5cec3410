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
`tests/conformance/backstage` runs a stock Backstage backend (`backend-defaults` with the catalog,
the auth backend and its GitHub provider) with exactly this task definition, with
`backstage.github_secrets` off and on, against TLS-only PostgreSQL and the role the Aurora bootstrap
creates, and checks each point.

## The container

<!-- BEGIN GENERATED: portal-runtime -->
<!-- END GENERATED: portal-runtime -->

## Environment

<!-- BEGIN GENERATED: portal-environment -->
<!-- END GENERATED: portal-environment -->

## Configuration the image's app-config files must give Backstage

`app-config.yaml` and `app-config.production.yaml`, loaded in every state; neither may hold
`auth.providers.github` or `integrations.github`:

<!-- BEGIN GENERATED: portal-config -->
<!-- END GENERATED: portal-config -->

`app-config.github.yaml`, beside them in `/app` (the standard Dockerfile copies `app-config*.yaml`),
loaded only once `backstage.github_secrets` is on:

<!-- BEGIN GENERATED: portal-github-config -->
<!-- END GENERATED: portal-github-config -->

## Why

- **GitHub, only once its values exist.** A first deploy runs before `blog-infra secrets set
  backstage` has stored the GitHub OAuth app and token, and turning `backstage.github_secrets` on
  later must not need a new image. Three facts of Backstage's source decide how:
  - While `auth.providers.github` is in the configuration, the auth backend configures the provider
    and, with `NODE_ENV=production`, fails its start when a value is missing
    (`bindProviderRouters` in `@backstage/plugin-auth-backend`'s `providers/router`; the GitHub
    authenticator's `initialize` reads `clientId` and `clientSecret` with `getString`). An unset
    `${AUTH_GITHUB_CLIENT_ID}` drops only that key (`createSubstitutionTransform` in
    `@backstage/config-loader`), so the provider's block stays and the backend logs `Missing
    required config value at 'auth.providers.github.production.clientId'` and stays at readiness
    503. Without the block the provider is not configured and the backend starts.
  - An empty variable is no way out: ECS injects a JSON key holding `""` as an empty variable (the
    ECS agent prints the key's value with `fmt.Sprintf("%v", ...)`; only a missing key stops the
    task), and Backstage's config reader refuses an empty string (`Invalid type in config for key
    ... got empty-string, wanted string`).
  - `APP_CONFIG_*` variables are no way either: `readEnvConfig` in `@backstage/config-loader`'s
    `EnvConfigSource` parses each value as JSON first, so a secret made of digits (`1234567890`,
    `1e5`) or `true` becomes a number or a boolean that `getString` refuses, and `"x"` loses its
    quotes; and a path cannot name an array element (`integrations.github[0]`).

  So the image carries the GitHub configuration in a file of its own, `app-config.github.yaml`, with
  `${VAR}` substitution (taken verbatim as strings), and the task sets the container's command: the
  standard image's `node packages/backend --config app-config.yaml --config
  app-config.production.yaml` while the setting is off, with `--config app-config.github.yaml` added
  and the three variables given once it is on. Both states are run by `tests/conformance/backstage`.
  The command is the CMD of Backstage's own backend Dockerfile
  (`packages/create-app/templates/default-app/packages/backend/Dockerfile`), which copies
  `app-config*.yaml` into `/app`, so the new file needs no Dockerfile change. An image without it
  fails once the setting is on, at once and plainly (`FileConfigSource` in `@backstage/config-loader`:
  `Config file ".../app-config.github.yaml" does not exist`).
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
        f"| Command | `{' '.join(container['Command'])}`, set by the task (the standard Backstage image's "
        f"CMD); once `{GITHUB_SECRETS_SETTING}` is on, `{' '.join(portal.command(github_secrets=True))}` |",
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


def github_configuration(_platform: Platform) -> str:
    rows = ["| Key | Value | Why |", "|---|---|---|"]
    for key, value, why in portal.GITHUB_CONFIG:
        rows.append(f"| `{key}` | `{value}` | {_cell(why)} |")
    return "\n".join(rows)


def blocks(platform: Platform) -> dict[str, str]:
    return {
        "portal-runtime": runtime(platform),
        "portal-environment": environment(platform),
        "portal-config": configuration(platform),
        "portal-github-config": github_configuration(platform),
    }
