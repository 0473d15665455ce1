"""Schemathesis against the running app's OpenAPI document, authenticated: no 5xx, answers match it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from devices.payloads import Kind
from hub.api.app import create_app
from hub.auth.accounts import create_user
from hub.broker.process import Broker
from hub.models import Role
from hub.registry.areas import Registration, create_area, preregister
from hub.runtime import HubRuntime
from hub.storage.migrate import upgrade
from tests.conftest import make_settings

# `KHU_FUZZ_SECONDS=300 .venv/bin/pytest -s --timeout 900 tests/test_schemathesis.py` fuzzes every
# operation round after round, with more examples each round, until that many seconds have passed
# (the suite runs one round).
FUZZ_SECONDS = float(os.environ.get("KHU_FUZZ_SECONDS", "0"))

_CHECKS = [not_a_server_error, response_schema_conformance]
# Streams never end and would hang a generated request; they are covered by tests/test_live.py.
_STREAMS = ("/api/v1/areas/{code}/stream", "/api/v1/areas/{code}/notifications/stream")


@pytest.fixture(scope="module")
def running(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    settings_ = make_settings(tmp, broker, scheduler_enabled=False)
    upgrade(settings_.db_url)
    runtime = HubRuntime(settings_)
    with runtime.sessions.begin() as s:
        area = create_area(s, "fuzz", "Khu fuzz", 21.0, 105.8, "Asia/Ho_Chi_Minh")
        preregister(s, area, [Registration("light-1", Kind.LIGHT, "Đèn 1", "Ngõ 1")])
        create_user(s, "fuzz.admin", "fuzz-Passw0rd!", Role.ADMIN)
    app = create_app(settings_, runtime)
    runtime.start()
    token = (
        TestClient(app)
        .post("/api/v1/auth/token", data={"username": "fuzz.admin", "password": "fuzz-Passw0rd!"})
        .json()["access_token"]
    )
    yield app, token
    runtime.stop()


def test_api_never_errors_and_answers_as_documented(running: tuple[Any, str]) -> None:
    app, token = running
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path not in _STREAMS]
    assert len(operations) > 60
    failures: dict[str, str] = {}
    deadline = time.monotonic() + FUZZ_SECONDS
    examples, rounds = 6, 0
    while True:
        rounds += 1
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
            )
            def check(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=_CHECKS)

            try:
                check()
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.setdefault(f"{operation.method.upper()} {operation.path}", str(exc)[:800])
        if time.monotonic() >= deadline or failures:
            break
        examples = min(examples * 2, 200)
    print(f"schemathesis: {len(operations)} operations, {rounds} round(s), up to {examples} examples each")
    assert failures == {}
