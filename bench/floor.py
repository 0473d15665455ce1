"""The stack's floor for a tap: HTTP through uvicorn and FastAPI to a plain ``def`` endpoint
(FastAPI's thread pool, as the hub's command route), one MQTT command -> state round trip
through ``bench.peer echo``, and the answer. No database, no login, no device model.

What the hub adds to a tap is its figure minus this one; the bare MQTT round trip is what
the issue's ratio is taken against. ``python -m bench.peer floor`` runs it.
"""

from __future__ import annotations

import itertools
import threading
from typing import Annotated, Any

import uvicorn
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse

from bench.accounts import Accounts, link_config
from devices.messages import Outbound
from devices.mqtt_client import MqttLink, Received

ROOT = "bare"
DEVICE = "floor-1"


class FloorApp:
    """POST /command publishes the body's ``level`` and answers once the echo comes back."""

    def __init__(self, mqtt_port: int, account: Accounts) -> None:
        self._waiting: dict[bytes, threading.Event] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self.link = MqttLink(
            link_config(
                mqtt_port, "bench-floor", account, persistent=False, subscriptions=(f"{ROOT}/{DEVICE}/state",)
            ),
            on_message=self._got,
        )
        self.app = FastAPI()
        self.app.post("/command")(self.command)

    def _got(self, msg: Received) -> None:
        with self._lock:
            done = self._waiting.pop(msg.payload, None)
        if done is not None:
            done.set()

    def command(self, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        payload = f'{{"id":"f{next(self._seq)}","level":{int(body.get("level", 0))}}}'.encode()
        done = threading.Event()
        with self._lock:
            self._waiting[payload] = done
        self.link.publish(Outbound(f"{ROOT}/{DEVICE}/cmd", payload, qos=1))
        confirmed = done.wait(5)
        return JSONResponse({"status": "confirmed" if confirmed else "timed_out"})


def serve(mqtt_port: int, account: Accounts, http_port: int, ready: Any) -> None:
    """Run until SIGTERM; ``ready()`` is called once the link is up and uvicorn listens."""
    floor = FloorApp(mqtt_port, account)
    floor.link.start()
    connected = floor.link.wait_connected(10)
    config = uvicorn.Config(floor.app, host="127.0.0.1", port=http_port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=lambda: _announce(server, connected, ready), daemon=True).start()
    server.run()  # handles SIGTERM itself
    floor.link.stop()


def _announce(server: uvicorn.Server, connected: bool, ready: Any) -> None:
    for _ in range(1000):
        if server.started:
            ready(connected)
            return
        threading.Event().wait(0.01)
    ready(False)
