"""Raw MQTT figures through the project's only paho wrapper (``devices.mqtt_client.MqttLink``)."""

from __future__ import annotations

import itertools
import threading
import time

from bench.accounts import Accounts, link_config
from bench.peer import BARE_ROOT
from devices.messages import Outbound
from devices.mqtt_client import MqttLink, Received


class BareRoundTrip:
    """Command -> state round trips against ``bench.peer echo``: QoS 1 both ways, as the hub's."""

    def __init__(self, port: int, account: Accounts, device: str = "dev-1") -> None:
        self._cmd = f"{BARE_ROOT}/{device}/cmd"
        self._state = f"{BARE_ROOT}/{device}/state"
        self._done = threading.Event()
        self._expect = b""
        self._seq = itertools.count()
        self.link = MqttLink(
            link_config(port, "bench-roundtrip", account, persistent=False, subscriptions=(self._state,)),
            on_message=self._got,
        )

    def _got(self, msg: Received) -> None:
        if msg.payload == self._expect:
            self._done.set()

    def start(self) -> None:
        self.link.start()
        if not self.link.wait_connected(10):
            raise RuntimeError("bare round trip could not connect")
        # The first answers may arrive before the subscription is active: retry until one does.
        deadline = time.monotonic() + 10
        while self.once(timeout=0.5) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the echo peer does not answer")

    def stop(self) -> None:
        self.link.stop()

    def once(self, timeout: float = 5) -> float | None:
        """Seconds from publishing a command to receiving its state; None on timeout."""
        payload = f'{{"id":"c{next(self._seq)}","on":true,"level":50}}'.encode()
        self._done.clear()
        self._expect = payload
        start = time.perf_counter()
        self.link.publish(Outbound(self._cmd, payload, qos=1))
        if not self._done.wait(timeout):
            return None
        return time.perf_counter() - start


class BareFanOut:
    """``n`` commands to ``n`` echo devices at once, until every state is back: what moving a
    fan-out's commands and answers through the broker costs, with no hub and no simulator."""

    def __init__(self, port: int, account: Accounts) -> None:
        self._cond = threading.Condition()
        self._waiting: set[bytes] = set()
        self._seq = itertools.count()
        self.link = MqttLink(
            link_config(
                port, "bench-fanout", account, persistent=False, subscriptions=(f"{BARE_ROOT}/+/state",)
            ),
            on_message=self._got,
        )

    def _got(self, msg: Received) -> None:
        with self._cond:
            self._waiting.discard(msg.payload)
            if not self._waiting:
                self._cond.notify_all()

    def start(self) -> None:
        self.link.start()
        if not self.link.wait_connected(10):
            raise RuntimeError("bare fan-out could not connect")
        deadline = time.monotonic() + 10
        while self.once(1, timeout=0.5) is None:  # until the subscription is active
            if time.monotonic() > deadline:
                raise RuntimeError("the echo peer does not answer")

    def stop(self) -> None:
        self.link.stop()

    def once(self, n: int, timeout: float = 30) -> float | None:
        """Seconds from publishing the first command to receiving the last state; None on timeout."""
        run = next(self._seq)
        payloads = [f'{{"id":"f{run}-{i}","on":true,"level":50}}'.encode() for i in range(n)]
        with self._cond:
            self._waiting = set(payloads)
        start = time.perf_counter()
        for i, payload in enumerate(payloads):
            self.link.publish(Outbound(f"{BARE_ROOT}/fan-{i}/cmd", payload, qos=1))
        with self._cond:
            if not self._cond.wait_for(lambda: not self._waiting, timeout):
                return None
        return time.perf_counter() - start
