"""8. Two hub replicas against one hub: CPU seconds per 10,000 reports, each report stored once.

Both runs use one PostgreSQL database (replicas need one that several processes write at
once; the machine's server, ``BENCH_PG_ADMIN_URL``) and drain the same kind of backlog as
``ingest``: the hubs are frozen (SIGSTOP), the backlog is published and held by the broker,
and the clock starts at SIGCONT. The first run is one hub without a group; the second, two
``khu serve`` with ``KHU_REPLICA_GROUP``, which split the reports (MQTT shared subscriptions)
and tell each other what they stored. CPU is user + system time from ``/proc`` of every hub
process together; the work of telling each other counts.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy import func, select

from bench.harness import Result, Stack, wait_until
from bench.ingest import AREA, Publisher, make_backlog, make_specs
from bench.processes import Hub
from devices.sim import DeviceSpec
from hub.broker.bootstrap import write_credentials
from hub.db import make_engine
from hub.models import Area, Device, DeviceEventRow

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
GROUP = "bench"


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database on the machine's PostgreSQL, dropped afterwards; None without a server."""
    name = f"khu_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        yield None
        return
    try:
        yield f"postgresql+psycopg://{PG_ADMIN_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _events_stored(url: str, since_ts: int) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            q = (
                select(func.count())
                .select_from(DeviceEventRow)
                .join(Device, Device.id == DeviceEventRow.device_pk)
                .join(Area, Area.id == Device.area_id)
                .where(Area.code == AREA, DeviceEventRow.ts >= since_ts)
            )
            return int(conn.execute(q).scalar_one())
    finally:
        engine.dispose()


def _settled_cpu(hubs: list[Hub], idle_s: float = 0.05, timeout: float = 20) -> float:
    """The hubs' CPU seconds once they are idle again: what they tell each other after the
    last report was stored is part of the cost."""
    last = sum(h.cpu() for h in hubs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(h.cpu() for h in hubs)
        if now - last < idle_s:
            return now
        last = now
    return last


def _drain(
    hubs: list[Hub], publisher: Publisher, specs: list[DeviceSpec], messages: int, url: str
) -> dict[str, float]:
    """Freeze the hubs, publish a backlog, let them drain it; their CPU and what they stored."""
    ts0 = int(time.time() * 1000) + 1000
    backlog, events, _ = make_backlog(specs, messages, ts0)
    before = [h.metrics().get("khu_ingest_committed_total", 0.0) for h in hubs]
    for hub in hubs:
        hub.pause()
    publisher.publish_all(backlog)
    cpu_before = sum(h.cpu() for h in hubs)
    start = time.monotonic()
    for hub in hubs:
        hub.resume()
    wait_until(lambda: _events_stored(url, ts0) >= events, 600, "every event stored", poll=0.2)
    seconds = time.monotonic() - start
    cpu = _settled_cpu(hubs) - cpu_before
    after = [h.metrics().get("khu_ingest_committed_total", 0.0) for h in hubs]
    shares = [a - b for a, b in zip(after, before, strict=True)]
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "events_sent": events,
        "events_stored": _events_stored(url, ts0),
        "committed": sum(shares),
        "smallest_share": min(shares),
        "rejected": sum(h.rejected() for h in hubs),
    }


def run(messages: int = 30_000, lights: int = 500, cameras: int = 500) -> list[Result]:
    name, target = "replicas.cpu_per_report_two_vs_one", "≤ 1.15× one hub, every report stored once"
    with postgres_database() as url:
        if url is None:
            return [Result(name, float("nan"), "×", target=target, detail={"skipped": "no PostgreSQL"})]
        with Stack("replicas", db_url=url) as stack:
            specs = make_specs(lights, cameras)  # the devices of the ingest benchmark
            stack.register(AREA, specs)
            publisher = Publisher(stack.port, stack.account)
            one = stack.start_hub(database_url=url)
            # Each set-up first drains a smaller backlog unmeasured: caches and pools warm up.
            _drain([one], publisher, specs, messages // 5, url)
            alone = _drain([one], publisher, specs, messages, url)
            one.stop()
            pair = []
            for client_id in ("khu-hub-a", "khu-hub-b"):
                account = write_credentials(
                    stack.dir / f"hub-{client_id}.json", stack.broker.hub_account(client_id)
                )
                pair.append(
                    stack.start_hub(
                        database_url=url,
                        replica_group=GROUP,
                        mqtt_client_id=client_id,
                        mqtt_password_file=account,
                    )
                )
            _drain(pair, publisher, specs, messages // 5, url)
            together = _drain(pair, publisher, specs, messages, url)
            publisher.stop()
    per_10k_one = alone["cpu_s"] / messages * 10_000
    per_10k_two = together["cpu_s"] / messages * 10_000
    ratio = per_10k_two / per_10k_one
    once = together["events_stored"] == together["events_sent"] and together["committed"] == messages
    return [
        Result(
            name,
            per_10k_two,
            "CPU s",
            per_10k_one,
            ratio,
            target,
            ratio <= 1.15 and once and together["smallest_share"] > 0,
            {
                "messages": messages,
                "one": {k: round(v, 3) for k, v in alone.items()},
                "two": {k: round(v, 3) for k, v in together.items()},
            },
        )
    ]
