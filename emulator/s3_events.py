"""S3 event notifications to Lambda: logged and skipped, since nothing runs Lambda code here.

moto delivers an S3 event to a Lambda destination by invoking the function in Docker. Without
Docker each matching PutObject, copy or delete logged ``ERROR ... error running docker``, and left a
log group ``/aws/lambda/<function>`` with that error as its only event, as if the function had run
and failed. Notifications to SQS, SNS and EventBridge are delivered by moto as before.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

from moto.s3 import notifications

log = logging.getLogger("emulator.s3")


def invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    """Replaces moto's ``_invoke_awslambda``: record the event that would have been delivered."""
    records = event_body.get("Records") if isinstance(event_body, dict) else None
    record = records[0] if records else {}
    log.info(
        "S3 event %s for s3://%s/%s not delivered to %s: the emulator does not run Lambda code",
        record.get("eventName", "?"),
        record.get("s3", {}).get("bucket", {}).get("name", "?"),
        unquote_plus(str(record.get("s3", {}).get("object", {}).get("key", "?"))),
        fn_arn,
    )


def install() -> None:
    """Install the replacement into moto; idempotent."""
    notifications._invoke_awslambda = invoke_awslambda
