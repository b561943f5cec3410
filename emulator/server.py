"""Entry point of the emulator process:
``python -m emulator.server --port N [--host 127.0.0.1] [--shape FILE]``.

Installs our CloudFormation engine fixes and resource models into moto, then serves moto's WSGI app
on a loopback address until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
HEALTH_PATH = "/_emulator/health"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _json(start_response: StartResponse, status: int, answer: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(answer).encode()
    reason = "OK" if status == 200 else "Bad Request"
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _with_health(app: WsgiApp) -> WsgiApp:
    """Answer the health probe ourselves so that the controller can tell our process by its pid, the
    ECS agent's control calls (`emulator.ecs.handle_control`), the IAM enforcement switch
    (`emulator.iam_enforcement.handle_control`), its decisions record
    (`emulator.iam_enforcement.handle_decisions`) and service principals' role sessions
    (`emulator.service_credentials`)."""
    from emulator import ecs, iam_enforcement, service_credentials

    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == HEALTH_PATH:
            return _json(start_response, 200, {"ok": True, "pid": os.getpid()})
        if path == service_credentials.PATH:  # a service principal's role session
            return service_credentials.respond(environ, start_response)
        if path in (ecs.AGENT_PATH, ecs.TASK_STATE_PATH) and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, answer = ecs.handle_control(path, environ["wsgi.input"].read(length))
            return _json(start_response, status, answer)
        if path == iam_enforcement.MODE_PATH and environ.get("REQUEST_METHOD") in ("GET", "POST"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, answer = iam_enforcement.handle_control(
                environ["REQUEST_METHOD"], environ["wsgi.input"].read(length)
            )
            return _json(start_response, status, answer)
        if path == iam_enforcement.DECISIONS_PATH and environ.get("REQUEST_METHOD") in ("GET", "DELETE"):
            status, answer = iam_enforcement.handle_decisions(environ["REQUEST_METHOD"])
            return _json(start_response, status, answer)
        return app(environ, start_response)

    return wrapped


def build_app() -> WsgiApp:
    """moto's server app with every extension of this package installed."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from emulator.extensions import install

    install()
    return _with_health(DomainDispatcherApplication(create_backend_app))


def _request_handler() -> type[Any]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class RequestHandler(MotoRequestHandler):
        """moto's handler, without an access-log line for each health probe of the controller."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if self.path != HEALTH_PATH:
                super().log_request(code, size)

    return RequestHandler


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.server", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--shape", help="JSON file of the account shape (emulator/shape.py)")
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK_HOSTS:
        parser.error(f"--host must be a loopback address ({', '.join(LOOPBACK_HOSTS)}), not {args.host}")
    if args.shape:
        from pathlib import Path

        from emulator.shape import EmulatorShape, ShapeError, use

        try:
            use(EmulatorShape.read(Path(args.shape)))
        except ShapeError as exc:
            parser.error(str(exc))

    os.environ.setdefault("MOTO_PORT", str(args.port))
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from werkzeug.serving import make_server

    app = build_app()
    from emulator import iam_enforcement
    from emulator.shape import current as current_shape

    iam_enforcement.set_mode(current_shape().iam)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=_request_handler())
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    from emulator.shape import current

    logging.getLogger("emulator").info(
        "serving on http://%s:%d (pid %d), account shape %s",
        args.host,
        args.port,
        os.getpid(),
        current().to_json(),
    )
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
        logging.getLogger("emulator").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
