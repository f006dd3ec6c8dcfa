"""One error hierarchy: the CLI prints ``str(error)`` and exits with ``error.exit_code``.

Every user-facing problem names where it is (``file:line`` for rule and tariff files,
``file:row`` and the column for CSV inputs), what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_REPORTED = 50


class DiffpriceError(Exception):
    """Base of every error the CLI turns into one clear message."""

    exit_code = 1


class SpecError(DiffpriceError):
    """A problem in a rulebook, tariff or proposal file, at a line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line or 0
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class InputError(DiffpriceError):
    """A problem in a CSV input (register, extract, overrides) at a physical line."""

    def __init__(self, source: str, row: int | None, column: str | None, message: str) -> None:
        self.source = str(source)
        self.row = row
        self.column = column
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.row is None else f"{self.source}:{self.row}"
        col = f" column '{self.column}':" if self.column else ""
        return f"{where}:{col} {self.message}"


class ErrorList(DiffpriceError):
    """Several problems reported together, capped so a broken file stays readable."""

    def __init__(self, errors: Iterable[DiffpriceError]) -> None:
        self.errors = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = [str(e) for e in self.errors[:MAX_REPORTED]]
        hidden = len(self.errors) - len(shown)
        if hidden > 0:
            shown.append(f"... and {hidden} more")
        return "\n".join(shown)


def raise_if_any(errors: list[DiffpriceError]) -> None:
    """Raise the collected errors at once, or do nothing when there are none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorList(errors)


class RejectRateExceeded(DiffpriceError):
    """More billing lines rejected than ``--max-reject-rate`` allows (SPEC: exit 3)."""

    exit_code = 3
