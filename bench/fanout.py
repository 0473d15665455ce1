"""2. Zone fan-out: one HTTP command to a zone of 1,000 lights, one announcement to 1,000 speakers.

The light command is timed from sending the request to its answer, which lists every light's
confirmed state. The announcement is timed from sending the request to the moment the
database holds a start acknowledgement (``scheduled`` or later) of every speaker. Both are
set beside a bare fan-out in the same run: as many commands published at once to
``bench.peer echo`` until every state is back (the targets themselves are absolute).
"""

from __future__ import annotations

import sqlite3
import time

from bench.bare import BareFanOut
from bench.harness import Result, Stack, percentile, wait_until
from bench.http import Client
from bench.wav import silent_wav
from devices.sim import demo_layout

AREA = "fan"
ACKED = ("scheduled", "playing", "finished")
ACKED_COUNT = "SELECT count(*) FROM speaker_deliveries WHERE announcement_id = ? AND status IN (?, ?, ?)"


def run(lights: int = 1000, speakers: int = 1000, repeats: int = 5) -> list[Result]:
    with Stack("fanout") as stack:
        specs = demo_layout(AREA, lights=lights, streets=1, speakers=speakers, speaker_zones=1, cameras=0)
        zones = stack.register(AREA, specs, gateways=2)
        hub = stack.start_hub(broadcast_sync_lead_ms=500)
        stack.fleet(
            AREA, lights=lights, streets=1, speakers=speakers, speaker_zones=1, connections=2, play_s=0.3
        )
        stack.wait_online(hub, AREA, len(specs) + 2)
        stack.peer("echo").expect_ready(15)
        bare = BareFanOut(stack.port, stack.account)
        bare.start()
        bare_times = _bare(bare, max(lights, speakers), repeats)
        bare.stop()
        client = hub.client()
        light_times, unconfirmed = _lights(client, zones["Đường 1"], lights, repeats)
        uploader = hub.client()  # the server closes after a multipart upload; keep it apart
        audio = uploader.send_raw(upload_request(AREA, hub.token, silent_wav(0.3)))
        uploader.close()
        assert audio.status == 201, audio.body[:300]
        db = sqlite3.connect(f"file:{stack.dir / 'khu.db'}?mode=ro", uri=True)
        ann_times, missing = _speakers(
            client, db, audio.json()["id"], zones["Loa khu 1"], speakers, max(2, repeats // 2)
        )
        db.close()
        client.close()

    ms = 1000.0
    light_med = percentile(light_times, 50) * ms
    ann_med = percentile(ann_times, 50) * ms
    bare_med = percentile(bare_times, 50) * ms
    return [
        Result(
            f"fanout.zone_{lights}_lights",
            light_med,
            "ms",
            bare_med,
            light_med / bare_med,
            target="≤ 1.5× the bare fan-out",
            met=light_med / bare_med <= 1.5 and unconfirmed == 0,
            detail={
                "runs": len(light_times),
                "max_ms": round(max(light_times) * ms, 1),
                "min_ms": round(min(light_times) * ms, 1),
                "unconfirmed": unconfirmed,
            },
        ),
        Result(
            f"fanout.announcement_{speakers}_speakers",
            ann_med,
            "ms",
            bare_med,
            ann_med / bare_med,
            target="≤ 2× the bare fan-out",
            met=ann_med / bare_med <= 2 and missing == 0,
            detail={
                "runs": len(ann_times),
                "max_ms": round(max(ann_times) * ms, 1),
                "min_ms": round(min(ann_times) * ms, 1),
                "incomplete": missing,
            },
        ),
    ]


def _bare(bare: BareFanOut, n: int, repeats: int) -> list[float]:
    """Median of ``repeats`` bare fan-outs of ``n`` after one warm-up; a lost answer fails the run."""
    times = []
    for i in range(repeats + 1):
        took = bare.once(n)
        if took is None:
            raise RuntimeError(f"the bare fan-out of {n} lost answers")
        if i > 0:
            times.append(took)
    return times


def _lights(client: Client, zone: int, lights: int, repeats: int) -> tuple[list[float], int]:
    """Median of ``repeats`` zone commands after one warm-up; every light must confirm."""
    times: list[float] = []
    unconfirmed = 0
    for i in range(repeats + 1):
        body = {
            "target": {"zone_id": zone},
            "action": {"type": "light.set", "on": True, "level": 40 + i},
            "wait_ms": 10_000,
        }
        start = time.perf_counter()
        r = client.post(f"/api/v1/areas/{AREA}/commands", body)
        took = time.perf_counter() - start
        assert r.status == 200, r.body[:300]
        if i > 0:  # the first is a warm-up
            times.append(took)
            unconfirmed += lights - r.json()["summary"].get("confirmed", 0)
    return times, unconfirmed


def _speakers(
    client: Client, db: sqlite3.Connection, audio_id: str, zone: int, speakers: int, repeats: int
) -> tuple[list[float], int]:
    """From the request to every speaker's start acknowledgement in the database."""
    times: list[float] = []
    missing = 0
    for i in range(repeats + 1):
        body = {"title": f"Thông báo {i}", "audio_id": audio_id, "zone_ids": [zone]}
        start = time.perf_counter()
        r = client.post(f"/api/v1/areas/{AREA}/announcements", body)
        assert r.status == 201, r.body[:300]
        ann = r.json()["id"]

        def acked(ann: str = ann) -> bool:
            (n,) = db.execute(ACKED_COUNT, (ann, *ACKED)).fetchone()
            return bool(n >= speakers)

        try:
            wait_until(acked, 30, "every start acknowledgement", poll=0.002)
            took = time.perf_counter() - start
        except TimeoutError:
            took = float("inf")
            missing += 1
        if i > 0:  # the first is a warm-up
            times.append(took)

        def done(ann: str = ann) -> bool:
            row = db.execute("SELECT status FROM announcements WHERE id = ?", (ann,)).fetchone()
            return bool(row and row[0] in ("done", "failed"))

        wait_until(done, 60, "the announcement to end", poll=0.05)
    return times, missing


def upload_request(area: str, token: str, data: bytes) -> bytes:
    boundary = "benchboundary7d"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="bench.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /api/v1/areas/{area}/audio HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
