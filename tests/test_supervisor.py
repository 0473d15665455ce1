"""``khu up`` starts the broker again when it dies."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from hub.broker.process import Broker
from hub.broker.supervisor import BrokerSupervisor


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_a_killed_broker_is_started_again_and_it_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker(tmp_path / "broker")
    broker.start()
    supervisor = BrokerSupervisor(broker)
    try:
        assert supervisor.check()
        assert supervisor.restarts == 0
        broker.kill()
        assert not _listening(broker.port)
        with caplog.at_level(logging.WARNING, logger="hub.broker.supervisor"):
            assert supervisor.check()
        assert supervisor.restarts == 1
        assert _listening(broker.port)
        assert "exited" in caplog.text
    finally:
        broker.kill()


def test_a_broker_that_cannot_start_is_retried_with_back_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker(tmp_path / "broker")
    broker.start()
    supervisor = BrokerSupervisor(broker, first_retry_s=60)
    try:
        broker.kill()
        broker.binary = "no-such-mosquitto"
        with caplog.at_level(logging.ERROR, logger="hub.broker.supervisor"):
            assert not supervisor.check()
            assert not supervisor.check()  # within the back-off: not tried again
        assert caplog.text.count("could not be started again") == 1
        assert supervisor.restarts == 0
    finally:
        broker.kill()
