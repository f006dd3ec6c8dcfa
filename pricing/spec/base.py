"""The base of every spec model: strict, frozen, and aware of its line in the file."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pricing.spec.yamlfile import LineDict


class SpecModel(BaseModel):
    """Unknown keys are errors; a model parsed from a YAML mapping keeps that mapping's line."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    line: int = Field(0, alias="__line__", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _keep_line(cls, data: Any) -> Any:
        if isinstance(data, LineDict):
            marked = dict(data)
            marked["__line__"] = data.line
            return marked
        return data


def as_text(value: Any) -> Any:
    """Division and industry codes may be written unquoted in YAML (330212): keep them text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


ID_PATTERN = re.compile(r"^[a-z0-9-]+$")


def spec_id(kind: str) -> Any:
    """The id type of a rulebook, tariff, component or proposal: ``[a-z0-9-]+`` (SPEC)."""

    def check(value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError(f"{kind} id '{value}' must match [a-z0-9-]+")
        return value

    return Annotated[str, AfterValidator(check)]


def _codes_as_text(value: Any) -> Any:
    return [as_text(v) for v in value] if isinstance(value, list) else value


Codes = Annotated[list[str], BeforeValidator(_codes_as_text)]
"""Division or industry codes, text even when written unquoted."""


class Period(SpecModel):
    """An effective period; ``to`` is the last day in force, inclusive (SPEC)."""

    from_: date = Field(alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.to is not None and self.to < self.from_:
            raise ValueError(f"'to' ({self.to}) is before 'from' ({self.from_})")
        return self

    def overlaps(self, other: Period) -> bool:
        end_a = self.to or date.max
        end_b = other.to or date.max
        return self.from_ <= end_b and other.from_ <= end_a

    def __str__(self) -> str:
        return f"{self.from_}..{self.to or ''}"
