"""Sync benchmark: a 10,000-attendee webinar from Zoom to Brevo, end to end.

Starts the portal (with the sandbox's Zoom and Brevo) under gunicorn on a free
loopback port with a scratch SQLite database under var/bench/, plays a webinar
with 10,000 attendees (about 12,000 join sessions, 5 % guests without an email)
without webhooks, switches the sandbox's rate limits on (Zoom Pro plan, Brevo
General tier), then measures a sync run in a fresh process:

* wall time of the run, and the rate-limit floor: Zoom pages ÷ 20 per second
  (every call the run makes is in Zoom's Medium category; a call Zoom turned
  away with a 429 and that was made again counts once);
* Zoom and Brevo calls (the run's counters, cross-checked with the sandbox's);
* peak memory growth of the process during the run (ru_maxrss after the run
  minus before it, the process having already loaded everything);
* in the same setup, the naive loop (one ``POST /contacts`` per participant row,
  through the same client and limiter) on a 1,000-attendee slice, scaled to
  the whole webinar, and the ratio of Brevo calls.

    .venv/bin/python benchmarks/sync.py [--attendees 10000] [--naive-slice 1000]

Figures are printed against the targets (wall ≤ 1.5 x floor, Brevo calls ≤ 10,
memory growth ≤ 100 MB, ≥ 500 x fewer Brevo calls than the naive loop); nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MEDIUM_PER_SECOND = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(var_dir: Path, port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "VAR_DIR": str(var_dir),
            "DEBUG": "true",
            "SANDBOX": "true",
            "SANDBOX_RATE_LIMITS": "true",
            "PORTAL_BASE_URL": base,
            "ZOOM_API_BASE_URL": f"{base}/sandbox/zoom/v2",
            "ZOOM_OAUTH_BASE_URL": f"{base}/sandbox/zoom",
            "BREVO_API_BASE_URL": f"{base}/sandbox/brevo/v3",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": secrets.token_urlsafe(32),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    # SQLite under var/bench/ unless DATABASE_URL names another database (give
    # it a scratch one: the benchmark migrates it and resets the sandbox).
    env.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'bench.sqlite3'}")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    # One worker process: the sandbox keeps its rate-limit windows in memory.
    proc = subprocess.Popen(
        [
            PYTHON, "-m", "gunicorn", "portal.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
            "--timeout", "120", "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/sandbox/api/stats", timeout=2)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the portal did not start:\n" + log.read_text()[-3000:])


# The measured processes -------------------------------------------------------------


def child_sync(uuid: str) -> None:
    """Run one sync in this fresh process and print its figures as JSON."""
    import django

    django.setup()
    import logging

    from django.urls import get_resolver, reverse

    from connector.models import SyncRun, ZoomConnection
    from connector.sync.pipeline import run_sync

    # A worker has its URLconf loaded long before a run; load it here too so
    # the run's wall time does not include importing it (notify URLs use it).
    get_resolver().resolve("/healthz")
    reverse("connector:brevo-import-notify", kwargs={"token": "warm-up"})
    timings: dict = {}

    class Timings(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "sync.run.finished":
                timings.update(
                    {k: v for k, v in vars(record).items() if k.endswith("_seconds")}
                )

    logging.getLogger("connector.sync.pipeline").addHandler(Timings())
    logging.getLogger("connector.sync.pipeline").setLevel(logging.INFO)

    connection = ZoomConnection.objects.get(slug="sandbox")
    run = SyncRun.objects.create(
        connection=connection, kind="webinar", zoom_ref=uuid, trigger="command"
    )
    profile_to = os.environ.get("SYNC_BENCH_PROFILE", "")
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock = time.perf_counter()
    run = run_sync(run.pk)
    wall = time.perf_counter() - clock
    if profiler is not None:
        import pstats

        profiler.disable()
        with open(profile_to, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run.refresh_from_db()
    print(
        json.dumps(
            {
                "wall": wall,
                "status": run.status,
                "error": run.error,
                "fetched": run.fetched,
                "merged": run.merged,
                "upserted": run.upserted,
                "no_shows": run.no_shows,
                "skipped_no_email": run.skipped_no_email,
                "zoom_calls": run.zoom_calls,
                "brevo_calls": run.brevo_calls,
                "retries": run.retries,
                "imports": run.imports.count(),
                "rss_before_mb": before / 1024,
                "rss_growth_mb": (after - before) / 1024,
                "timings": timings,
            }
        )
    )


def child_naive(uuid: str, slice_size: int) -> None:
    """One POST /contacts per participant row of the first ``slice_size`` attendees."""
    import django

    django.setup()
    from connector.brevo.client import BrevoClient
    from connector.models import ZoomConnection
    from connector.zoom.client import ZoomClient

    connection = ZoomConnection.objects.get(slug="sandbox")
    zoom = ZoomClient(connection)
    brevo = BrevoClient(connection.brevo_account)
    attendees: set[str] = set()
    clock = time.perf_counter()
    for row in zoom.past_webinar_participants(uuid):
        email = (row.get("user_email") or "").strip().lower()
        if not email:
            continue
        if email not in attendees and len(attendees) >= slice_size:
            break
        attendees.add(email)
        brevo.upsert_contact(email, {"FIRSTNAME": row.get("name") or ""}, [16])
    wall = time.perf_counter() - clock
    print(
        json.dumps(
            {
                "attendees": len(attendees),
                "brevo_calls": brevo.calls,
                "zoom_calls": zoom.calls,
                "wall": wall,
            }
        )
    )


def child(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [PYTHON, __file__, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# The benchmark -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--attendees", type=int, default=10_000)
    parser.add_argument("--naive-slice", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--keep", action="store_true", help="Keep var/bench/…")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the run into var/bench/…"
    )
    args = parser.parse_args()

    var_dir = ROOT / "var" / "bench" / f"sync-{int(time.time())}"
    var_dir.mkdir(parents=True)
    port = free_port()
    env = environment(var_dir, port)
    if args.profile:
        env["SYNC_BENCH_PROFILE"] = str(var_dir / "profile.txt")
        args.keep = True
    base = f"http://127.0.0.1:{port}"

    print(f"portal on {base}, data in {var_dir}")
    manage(env, "migrate", "--noinput")
    manage(env, "sandbox_seed")
    server = start_server(env, port, var_dir / "server.log")
    try:
        requests.post(
            f"{base}/sandbox/api/config", json={"rate_limits": False}, timeout=10
        )
        clock = time.perf_counter()
        played = json.loads(
            manage(
                env, "sandbox_play", "--webinar", "--attendees", str(args.attendees),
                "--guest-rate", "0.05", "--no-webhooks", "--seed", str(args.seed),
                "--json",
            )
        )  # fmt: skip
        print(
            f"played in {time.perf_counter() - clock:.1f} s: {played['attendees']:,} "
            f"attendees, {played['sessions']:,} join sessions, "
            f"{played['registrants']:,} registrants, {played['guests']:,} guests, "
            f"{played['no_shows']:,} no-shows"
        )

        requests.post(f"{base}/sandbox/api/reset", json={"config": False}, timeout=30)
        requests.post(
            f"{base}/sandbox/api/config", json={"rate_limits": True}, timeout=10
        )
        print("sandbox rate limits on (Zoom Pro, Brevo General); syncing…")
        run = child(env, "--child-sync", played["uuid"])
        stats = requests.get(f"{base}/sandbox/api/stats", timeout=10).json()
        config = requests.get(f"{base}/sandbox/api/config", timeout=10).json()
        stats["brevo_import_seconds"] = config["brevo_import_seconds"]

        requests.post(f"{base}/sandbox/api/reset", json={"config": False}, timeout=30)
        requests.post(
            f"{base}/sandbox/api/config", json={"rate_limits": True}, timeout=10
        )
        print(f"naive loop on a {args.naive_slice:,}-attendee slice…")
        naive = child(
            env, "--child-naive", played["uuid"], "--naive-slice", str(args.naive_slice)
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    report(args, played, run, stats, naive)
    if not args.keep:
        import shutil

        shutil.rmtree(var_dir, ignore_errors=True)


def report(args, played: dict, run: dict, stats: dict, naive: dict) -> None:
    turned_away = stats.get("calls_by_status", {}).get("zoom:429", 0)
    pages = run["zoom_calls"] - turned_away
    floor = pages / MEDIUM_PER_SECOND
    scale = played["attendees"] / max(naive["attendees"], 1)
    naive_calls = naive["brevo_calls"] * scale
    naive_wall = naive["wall"] * scale
    ratio = naive_calls / max(run["brevo_calls"], 1)
    sandbox_zoom = stats["calls"].get("zoom", 0)
    sandbox_brevo = stats["calls"].get("brevo", 0)

    own = run["timings"].get("imports_sent_seconds", 0.0)
    brevo_work = run["timings"].get("confirmed_seconds", 0.0) - own

    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    lines = [
        "",
        f"Sync run: {run['status']} {run['error'] or ''}".rstrip(),
        f"  fetched rows          {run['fetched']:>10,}",
        f"  people merged         {run['merged']:>10,}   no-shows {run['no_shows']:,}, "
        f"guests skipped {run['skipped_no_email']:,} (told apart by display name)",
        f"  contacts upserted     {run['upserted']:>10,}   in {run['imports']} imports",
        f"  wall time             {run['wall']:>10.2f} s",
        f"  floor (Zoom pages/20) {floor:>10.2f} s   wall/floor "
        f"{run['wall'] / floor:.2f} ({verdict(run['wall'] <= 1.5 * floor)}: ≤ 1.5)",
        f"  portal's own work     {own:>10.2f} s   until Brevo accepted the "
        f"imports; own/floor {own / floor:.2f}",
        f"  Brevo import work     {brevo_work:>10.2f} s   until Brevo said they "
        f"were done (the sandbox takes {stats['brevo_import_seconds']:g} s an import)",
        "  stages (s from start)  "
        + ", ".join(
            f"{k.removesuffix('_seconds')} {v:.2f}" for k, v in run["timings"].items()
        ),
        f"  Zoom calls            {run['zoom_calls']:>10,}   (sandbox counted "
        f"{sandbox_zoom:,} incl. token; {turned_away} turned away with a 429; "
        f"retries {run['retries']})",
        f"  Brevo calls           {run['brevo_calls']:>10,}   (sandbox counted "
        f"{sandbox_brevo:,}; {verdict(run['brevo_calls'] <= 10)}: ≤ 10)",
        f"  memory growth         {run['rss_growth_mb']:>10.1f} MB "
        f"(peak RSS {run['rss_before_mb'] + run['rss_growth_mb']:.0f} MB; "
        f"{verdict(run['rss_growth_mb'] <= 100)}: ≤ 100 MB)",
        "",
        f"Naive loop (one POST /contacts per participant row), "
        f"{naive['attendees']:,} attendees:",
        f"  Brevo calls           {naive['brevo_calls']:>10,}   scaled x{scale:.0f}: "
        f"{naive_calls:,.0f}",
        f"  wall time             {naive['wall']:>10.1f} s   "
        f"scaled: {naive_wall:,.0f} s",
        f"  Brevo calls ratio     {ratio:>10,.0f} x  ({verdict(ratio >= 500)}: ≥ 500)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child-sync":
        sys.path.insert(0, str(ROOT))
        child_sync(sys.argv[2])
    elif len(sys.argv) > 2 and sys.argv[1] == "--child-naive":
        sys.path.insert(0, str(ROOT))
        child_naive(sys.argv[2], int(sys.argv[4]))
    else:
        main()
