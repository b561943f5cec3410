"""EventBridge's TestEventPattern, which moto answers with an empty body.

The replacement answers `{"Result": <bool>}` from moto's own pattern matcher, the one its rules use
to route events, so a template's event pattern can be checked against an event through the API.
"""

from __future__ import annotations

import json

from moto.events import responses as events_responses
from moto.events.models import EventPattern


def _test_event_pattern(self: events_responses.EventsHandler) -> str:
    pattern = EventPattern.load(self._get_param("EventPattern"))
    event = json.loads(self._get_param("Event"))
    return json.dumps({"Result": pattern.matches_event(event)})


def install() -> None:
    """Replace moto's TestEventPattern handler (idempotent)."""
    events_responses.EventsHandler.test_event_pattern = _test_event_pattern  # type: ignore[method-assign,assignment]
