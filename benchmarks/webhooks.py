"""Webhook ingestion benchmark: how fast the portal takes Zoom deliveries.

Starts gunicorn (2 sync workers) on the portal with a scratch database (SQLite
in WAL mode under var/bench/, or PostgreSQL when DATABASE_URL is set: give it a
scratch database, the benchmark writes to it), sends 2,000 signed deliveries
(meetings with their joins and leaves, 5% of them repeated as Zoom's retries
would be) from 16 concurrent senders, then the same number of requests to a bare
Django view in the same server for comparison. It prints throughput, p50/p99 and
the ratio, then starts a Celery worker, waits for every delivery to be handled,
and checks that each was stored once and processed once.

    .venv/bin/python benchmarks/webhooks.py [--deliveries 2000] [--senders 16]

The figures are printed, never asserted; the script exits 1 only when a delivery
was lost or doubled.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret-" + secrets.token_hex(8)
SLUG = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_environment(var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.webhook_settings",
            "VAR_DIR": str(var_dir),
            "DEBUG": "false",
            "SANDBOX": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'bench.sqlite3'}")
    os.environ.update(env)
    return env


# Deliveries ---------------------------------------------------------------------


def build_deliveries(total: int, repeat_share: float, seed: int) -> list[bytes]:
    """Bodies as Zoom sends them: meetings started, joins, leaves, ended."""
    rng = random.Random(seed)
    unique_target = total - int(total * repeat_share)
    bodies: list[bytes] = []
    start = datetime(2026, 8, 1, 9, 0, tzinfo=UTC)
    meeting = 0
    while len(bodies) < unique_target:
        meeting += 1
        uuid = f"bench{meeting:05d}+/x=="
        obj = {
            "id": str(80000000000 + meeting),
            "uuid": uuid,
            "host_id": "BenchHost0001",
            "topic": f"Benchmark meeting {meeting}",
            "type": 2,
            "start_time": start.isoformat().replace("+00:00", "Z"),
            "timezone": "UTC",
            "duration": 60,
        }
        envelope = {"account_id": "BenchAccount0001"}
        events = [{"event": "meeting.started", "payload": {**envelope, "object": obj}}]
        for person in range(22):
            join = start + timedelta(seconds=rng.randint(0, 600))
            leave = join + timedelta(seconds=rng.randint(300, 3000))
            who = {
                "user_id": str(16000000 + meeting * 100 + person),
                "user_name": f"Person {meeting}-{person}",
                "id": "",
                "email": f"p{meeting}-{person}@example.test",
                "participant_uuid": f"{meeting:08d}-0000-4000-8000-{person:012d}",
            }
            for side, when in (("joined", join), ("left", leave)):
                key = "join_time" if side == "joined" else "leave_time"
                events.append(
                    {
                        "event": f"meeting.participant_{side}",
                        "payload": {
                            **envelope,
                            "object": {
                                **obj,
                                "participant": {**who, key: when.isoformat()},
                            },
                        },
                    }
                )
        events.append(
            {
                "event": "meeting.ended",
                "payload": {
                    **envelope,
                    "object": {
                        **obj,
                        "end_time": (start + timedelta(hours=1)).isoformat(),
                    },
                },
            }
        )
        for n, event in enumerate(events):
            event["event_ts"] = int(start.timestamp() * 1000) + meeting * 10_000 + n
            bodies.append(json.dumps(event, separators=(",", ":")).encode())
    bodies = bodies[:unique_target]
    repeats = [rng.choice(bodies) for _ in range(total - len(bodies))]
    # Retries arrive later than their original, mixed into the stream.
    mixed = list(bodies)
    for body in repeats:
        first = mixed.index(body)
        mixed.insert(rng.randint(first + 1, len(mixed)), body)
    return mixed


def sign(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(
        SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    return {
        "content-type": "application/json; charset=utf-8",
        "user-agent": "Zoom Marketplace/1.0a",
        "x-zm-request-timestamp": stamp,
        "x-zm-signature": f"v0={digest}",
        "x-zm-request-id": hashlib.md5(body, usedforsecurity=False).hexdigest(),
    }


# Sending ------------------------------------------------------------------------


class Meter:
    """Latencies and answers of one target, over one or more rounds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.answers: Counter = Counter()
        self.wall = 0.0
        self.lock = threading.Lock()

    def figures(self) -> dict:
        ordered = sorted(self.latencies)
        return {
            "rps": len(ordered) / self.wall,
            "p50": statistics.median(ordered) * 1000,
            "p99": ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000,
            "max": ordered[-1] * 1000,
            "answers": dict(self.answers),
        }


def blast(url: str, bodies: list[bytes], senders: int, signed: bool, meter: Meter):
    """Send every body once from `senders` threads, recording into `meter`."""
    local = threading.local()

    def send(body: bytes) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        headers = sign(body) if signed else {"content-type": "application/json"}
        began = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - began
        status = (
            response.json().get("status", response.status_code)
            if response.status_code == 200
            else response.status_code
        )
        with meter.lock:
            meter.latencies.append(elapsed)
            meter.answers[status] += 1

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=senders) as pool:
        list(pool.map(send, bodies))
    meter.wall += time.perf_counter() - began


def server_times(log: Path) -> str:
    """Median time inside gunicorn per request, from its access log."""
    spent: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "POST":
            spent.setdefault(parts[1], []).append(float(parts[3]) * 1000)
    return "time in server, median: " + ", ".join(
        f"{path} {statistics.median(ms):.1f} ms"
        for path, ms in sorted(spent.items())
        if len(ms) > 100
    )


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.post(url, data=b"{}", timeout=10)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise SystemExit(f"server did not start: {url}")


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# The run --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--repeat-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep var/bench/...")
    args = parser.parse_args()

    var_dir = ROOT / "var" / "bench" / f"webhooks-{os.getpid()}"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = prepare_environment(var_dir)
    sys.path.insert(0, str(ROOT))
    python = sys.executable

    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    import django

    django.setup()
    from django.db import connection as db

    from connector.models import (
        Attendance,
        WebhookDelivery,
        ZoomConnection,
        ZoomMeeting,
    )

    WebhookDelivery.objects.all().delete()
    ZoomConnection.objects.filter(slug=SLUG).delete()
    ZoomConnection.objects.create(
        name="Benchmark",
        slug=SLUG,
        webhook_secret_token=SECRET,
        # meeting.ended is recorded, not synced: there is no Zoom to sync from.
        sync_participants=False,
    )
    db.close()

    bodies = build_deliveries(args.deliveries, args.repeat_share, args.seed)
    unique = len(set(bodies))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = start(
        [
            python, "-m", "gunicorn", "portal.wsgi:application",
            "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
            "--worker-class", "sync", "--access-logfile", "-", "--log-level", "warning",
            "--access-logformat", "%(m)s %(U)s %(s)s %(L)s",
        ],
        env,
        var_dir / "gunicorn.log",
    )  # fmt: skip
    worker = None
    try:
        wait_until_up(f"{base}/bench/bare/")
        # Warm both paths (imports, connections) before measuring.
        warm = [b'{"event":"warmup"}'] * 40
        blast(f"{base}/bench/bare/", warm, args.senders, False, Meter())
        blast(f"{base}/webhooks/zoom/no-such/", warm, args.senders, True, Meter())

        # Rounds alternate between the two targets so that load from anything
        # else on the machine falls on both alike.
        portal_meter, bare_meter = Meter(), Meter()
        size = -(-len(bodies) // args.rounds)
        for start_at in range(0, len(bodies), size):
            chunk = bodies[start_at : start_at + size]
            url = f"{base}/webhooks/zoom/{SLUG}/"
            blast(url, chunk, args.senders, True, portal_meter)
            blast(f"{base}/bench/bare/", chunk, args.senders, False, bare_meter)
        portal, bare = portal_meter.figures(), bare_meter.figures()

        engine = "PostgreSQL" if "postgres" in env["DATABASE_URL"] else "SQLite (WAL)"
        print(
            f"\nWebhook intake: {len(bodies)} deliveries ({unique} distinct), "
            f"{args.senders} senders, gunicorn {args.workers} workers, {engine}"
        )
        print(f"{'':18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for label, figures in (("portal endpoint", portal), ("bare Django view", bare)):
            print(
                f"{label:18}{figures['rps']:9.0f}{figures['p50']:9.1f}"
                f"{figures['p99']:9.1f}{figures['max']:9.1f}"
            )
        print(f"ratio portal/bare: {portal['rps'] / bare['rps']:.2f}")
        print(server_times(var_dir / "gunicorn.log"))
        print(f"answers: {portal['answers']}")

        worker = start(
            [
                python, "-m", "celery", "-A", "portal", "worker", "--pool=prefork",
                "--concurrency=2", "--without-mingle", "--without-gossip",
                "-Q", "portal", "--loglevel=WARNING",
            ],
            env,
            var_dir / "worker.log",
        )  # fmt: skip
        began = time.perf_counter()
        deadline = time.monotonic() + 600
        pending = -1
        while time.monotonic() < deadline:
            pending = WebhookDelivery.objects.filter(status="accepted").count()
            if pending == 0:
                break
            time.sleep(0.5)
        took = time.perf_counter() - began
        print(f"processing: {unique} deliveries handled in {took:.1f} s "
              f"({unique / took:.0f}/s, 1 worker process, 2 children)")  # fmt: skip
    finally:
        if worker is not None:
            stop(worker)
        stop(gunicorn)

    # Stored once, processed once ------------------------------------------------
    rows = WebhookDelivery.objects.filter(connection_slug=SLUG)
    statuses = Counter(rows.values_list("status", flat=True))
    keys = list(rows.exclude(dedupe_key=None).values_list("dedupe_key", flat=True))
    attempts = Counter(
        rows.exclude(status="duplicate").values_list("attempts", flat=True)
    )
    stored_bodies = {hashlib.sha256(b).hexdigest() for b in bodies}
    meetings = ZoomMeeting.objects.filter(connection__slug=SLUG)
    attendances = Attendance.objects.filter(meeting__connection__slug=SLUG)
    sessions = Counter(attendances.values_list("sessions", flat=True))
    problems = []
    if rows.count() != len(bodies):
        problems.append(f"{rows.count()} rows for {len(bodies)} deliveries")
    if len(keys) != unique or set(keys) != stored_bodies:
        problems.append(f"{len(keys)} distinct stored bodies, expected {unique}")
    if statuses.get("duplicate", 0) != len(bodies) - unique:
        problems.append(f"{statuses.get('duplicate', 0)} duplicates recorded")
    if set(statuses) - {"processed", "ignored", "duplicate"}:
        problems.append(f"unexpected statuses {dict(statuses)}")
    if set(attempts) != {1}:
        problems.append(f"processing attempts per delivery: {dict(attempts)}")
    if set(sessions) - {1}:
        problems.append(f"join sessions per person: {dict(sessions)}")
    print(
        f"records: {dict(statuses)}; {meetings.count()} meetings, "
        f"{attendances.count()} attendances; attempts per delivery {dict(attempts)}"
    )
    if problems:
        print("LOST OR DOUBLED: " + "; ".join(problems))
    else:
        print("every delivery stored once and processed once")
    db.close()
    if not args.keep and "sqlite" in env["DATABASE_URL"]:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
