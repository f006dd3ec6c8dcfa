"""A district proposal (SPEC "Proposals"): replacement and new rulebooks and components that
take effect only inside the named districts."""

from __future__ import annotations

from pydantic import Field, field_validator

from pricing.spec.base import Codes, SpecModel, spec_id


class Proposal(SpecModel):
    id: spec_id("proposal") = Field(alias="proposal")  # type: ignore[valid-type]
    title: str
    districts: Codes
    description: str | None = None
    author: str | None = None
    path: str = Field("", alias="__path__", exclude=True)

    @field_validator("districts")
    @classmethod
    def _six_digits(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if not (d.isdigit() and len(d) == 6)]
        if bad or not value:
            raise ValueError(f"districts must be 6-digit division codes, found {bad or value}")
        return value
