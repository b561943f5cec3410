"""Stand-in for blog_data's ork processor in the local environment: it logs the design files it is
told about and processes nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    objects = [
        {"bucket": record["s3"]["bucket"]["name"], "key": record["s3"]["object"]["key"]}
        for record in event.get("Records", [])
        if "s3" in record
    ]
    logger.info(json.dumps({"placeholder": True, "design_files": objects}))
    return {"placeholder": True, "processed": 0, "design_files": objects}
