"""Deploy the local environment with another Backstage image tag, as `blog-infra local up` would.

The benchmark's image-tag bump: the configuration is `infra/envs/local` with `backstage.image_tag`
replaced in memory, so that no file under infra/envs changes (another environment folder would be
another stack, not a bump). The emulator is the one of `BLOG_INFRA_STATE_DIR`.

    .venv/bin/python bench/deploy_tag.py TAG          # exit 0 deployed, 3 nothing to deploy
    .venv/bin/python bench/deploy_tag.py TAG --plan   # print the plan of that bump as JSON, deploy nothing
"""

from __future__ import annotations

import json
import sys

from blog_infra import operations, paths
from blog_infra.target import resolve
from emulator import control
from infra.config import load_config


def main(tag: str, *, plan_only: bool = False) -> int:
    paths.use_pinned_node()
    config = load_config("local")
    config = config.model_copy(update={"backstage": config.backstage.model_copy(update={"image_tag": tag})})
    control.start(paths.emulator_state_dir())
    target = resolve(config)
    if plan_only:
        planned = operations.plan(config, target)
        print(
            json.dumps(
                {
                    "counts": planned.counts(),
                    "changes": len(planned.changes),
                    "dangerous": len(planned.dangerous),
                }
            )
        )
        return 0
    operations.bootstrap(config, target)
    return 0 if operations.deploy(config, target) else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], plan_only="--plan" in sys.argv[2:]))
