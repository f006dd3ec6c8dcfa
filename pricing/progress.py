"""Progress of long runs on stderr, only when stderr is a terminal (never in files or CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``[  1.2s] reading extracts`` lines; silent unless enabled."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()

    def step(self, text: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:6.1f}s] {text}", file=self.stream, flush=True)


SILENT = Progress(enabled=False)
