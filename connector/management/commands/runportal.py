"""Run the web server, a Celery worker and Celery beat together; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start web server, Celery worker and beat; stop them all on Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--addr", default=os.environ.get("PORT_ADDR", "127.0.0.1:8000")
        )

    def handle(self, *args, addr: str, **options) -> None:
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [
                python, "-m", "celery", "-A", "portal", "worker",
                "--loglevel=INFO", "--concurrency=2", "-Q", "portal",
                "--without-mingle", "--without-gossip",
            ],
            "beat": [
                python, "-m", "celery", "-A", "portal", "beat", "--loglevel=INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }  # fmt: skip
        procs: dict[str, subprocess.Popen] = {}
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, cwd=settings.BASE_DIR)  # noqa: S603
        self.stdout.write(
            self.style.SUCCESS(
                f"Portal on http://{addr}/admin/  ·  worker and beat running  ·  "
                "Ctrl-C stops all"
            )
        )
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.stdout.write("Stopped web, worker and beat.")
