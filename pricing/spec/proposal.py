"""A district proposal (SPEC "Proposals"): replacement and new rulebooks and components that
take effect only inside the named districts."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from pricing.spec.base import SpecModel, as_text
from pricing.spec.rulebook import ID_PATTERN


class Proposal(SpecModel):
    id: str = Field(alias="proposal")
    title: str
    districts: list[str]
    description: str | None = None
    author: str | None = None
    path: str = Field("", alias="__path__", exclude=True)

    @field_validator("districts", mode="before")
    @classmethod
    def _codes_are_text(cls, value: Any) -> Any:
        return [as_text(v) for v in value] if isinstance(value, list) else value

    @field_validator("districts")
    @classmethod
    def _six_digits(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if not (d.isdigit() and len(d) == 6)]
        if bad or not value:
            raise ValueError(f"districts must be 6-digit division codes, found {bad or value}")
        return value

    @field_validator("id")
    @classmethod
    def _id_pattern(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError(f"proposal id '{value}' must match [a-z0-9-]+")
        return value
