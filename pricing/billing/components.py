"""Which tariff components are in force in a billing month, and for how many of its days.

SPEC "Tariffs": a component prices a line when the line's month overlaps the component's
effective period; when the period covers only some days of the month the amount is multiplied
by ``days in force / days in month``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from pricing.spec.tariff import Component, Tariff


@dataclass(frozen=True)
class InForce:
    """A component for one month, with its proration as an exact fraction."""

    component: Component
    tariff: str
    order: int  # position across the loaded tariffs: ties in `group` go to the first
    days: int
    days_in_month: int

    @property
    def proration(self) -> str:
        """The text of the ``proration`` column: ``1`` or ``20/31``."""
        return "1" if self.days == self.days_in_month else f"{self.days}/{self.days_in_month}"


def month_bounds(period: str) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` period."""
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def in_force(tariffs: list[Tariff], period: str) -> list[InForce]:
    """The components whose effective period overlaps the month, in tariff file order."""
    first, last = month_bounds(period)
    found = []
    order = 0
    for tariff in tariffs:
        for comp in tariff.components:
            order += 1
            start, end = first, last
            if comp.effective is not None:
                start = max(first, comp.effective.from_)
                end = min(last, comp.effective.to or last)
            if start > end:
                continue
            found.append(InForce(comp, tariff.id, order, (end - start).days + 1, last.day))
    return found
