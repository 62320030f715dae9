"""A plain text progress bar on stderr for the foreground sync commands."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class TextProgress:
    """Called once per page with (stage, rows done, rows expected or None)."""

    def __init__(self, stream: TextIO | None = None, label: str = "") -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.last_stage = ""

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self.last_stage and stage != self.last_stage:
            self.stream.write("\n")
        self.last_stage = stage
        prefix = f"{self.label} " if self.label else ""
        if total:
            share = min(done / total, 1.0)
            filled = int(share * WIDTH)
            bar = "#" * filled + "." * (WIDTH - filled)
            line = f"{prefix}{stage:<12} [{bar}] {share:4.0%} {done:,}/{total:,}"
        else:
            line = f"{prefix}{stage:<12} {done:,} rows"
        self.stream.write("\r" + line)
        self.stream.flush()

    def close(self) -> None:
        if self.last_stage:
            self.stream.write("\n")
            self.stream.flush()
            self.last_stage = ""
