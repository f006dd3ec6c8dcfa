"""Progress goes to stderr only when asked for (a terminal), never into files or logs."""

from __future__ import annotations

import io

from pricing.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_printed_on_a_terminal() -> None:
    stream = Terminal()
    Progress(stream=stream).step("pricing 10 valid lines")
    assert stream.getvalue().endswith("s] pricing 10 valid lines\n")


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    Progress(stream=stream).step("pricing")
    assert stream.getvalue() == ""
