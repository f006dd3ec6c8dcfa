"""The tariff model (SPEC "Tariffs"): surcharge components, each with an effective period."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pricing.spec.base import Period, SpecModel, spec_id

Utility = Literal["electricity", "water"]
UNITS = {"electricity": "kWh", "water": "m3"}


def max_places(value: Decimal | None, places: int, what: str) -> Decimal | None:
    """Rates are carried as exact scaled integers (docs/design.md): refuse longer decimals."""
    if value is not None and value.as_tuple().exponent < -places:  # type: ignore[operator]
        raise ValueError(f"{what} {value} has more than {places} decimal places")
    return value


class ComponentBase(SpecModel):
    id: spec_id("component")  # type: ignore[valid-type]
    title: str | None = None
    utility: Utility
    rulebook: str | None = None
    classes: list[str] | None = None  # only these classes of the rulebook pay
    basis: Literal["total", "production"] = "total"
    effective: Period | None = None
    group: str | None = None


class Flat(ComponentBase):
    """Yuan per unit by class; unlisted classes pay nothing."""

    kind: Literal["flat"]
    rates: dict[str, Decimal]

    @model_validator(mode="after")
    def _needs_rulebook(self) -> Flat:
        if self.rulebook is None:
            raise ValueError("a flat component names the rulebook whose classes it prices")
        if any(rate < 0 for rate in self.rates.values()):
            raise ValueError("rates cannot be negative")
        for rate in self.rates.values():
            max_places(rate, 9, "rate")
        return self


class Reduction(SpecModel):
    """rate × (1 − per_point × points above ``above``): the renewable-share incentive."""

    metric: str
    above: Decimal
    per_point: Decimal = Field(gt=0)


class Stepped(ComponentBase):
    """rate = increment × ceil((metric − threshold) / step), capped (DOMAIN: aluminium)."""

    kind: Literal["stepped"]
    metric: str
    threshold: Decimal = Field(ge=0)
    step: Decimal = Field(gt=0)
    increment: Decimal = Field(gt=0)
    cap: Decimal | None = Field(None, gt=0)
    reduction: Reduction | None = None

    @model_validator(mode="after")
    def _needs_rulebook(self) -> Stepped:
        if self.rulebook is None:
            raise ValueError("a stepped component names the rulebook that defines its metric")
        max_places(self.increment, 9, "increment")
        max_places(self.cap, 9, "cap")
        return self


class QuotaBand(SpecModel):
    upto_pct: Decimal | None = Field(None, gt=0)
    multiple: Decimal = Field(gt=0)

    @field_validator("multiple")
    @classmethod
    def _places(cls, value: Decimal) -> Decimal:
        max_places(value, 3, "multiple")
        return value


class OverQuota(ComponentBase):
    """Excess over the quota in bands, each band priced at base_price × multiple."""

    kind: Literal["over_quota"]
    bands: list[QuotaBand]

    @field_validator("bands")
    @classmethod
    def _bands_ordered(cls, bands: list[QuotaBand]) -> list[QuotaBand]:
        if not bands:
            raise ValueError("at least one band is needed")
        if bands[-1].upto_pct is not None:
            raise ValueError("the last band must be open (no 'upto_pct')")
        bounded = [b.upto_pct for b in bands[:-1]]
        if any(b is None for b in bounded):
            raise ValueError("only the last band may be open")
        if any(b <= a for a, b in zip(bounded, bounded[1:], strict=False)):
            raise ValueError("'upto_pct' must increase from band to band")
        return bands


Component = Annotated[Flat | Stepped | OverQuota, Field(discriminator="kind")]


class Limits(SpecModel):
    """Guard rails for district proposals: the highest surcharge rate, yuan per unit."""

    electricity: Decimal | None = Field(None, gt=0)
    water: Decimal | None = Field(None, gt=0)


class Tariff(SpecModel):
    id: spec_id("tariff") = Field(alias="tariff")  # type: ignore[valid-type]
    title: str
    source: str
    currency: Literal["CNY"] = "CNY"
    limits: Limits | None = None
    components: list[Component]
    path: str = Field("", alias="__path__", exclude=True)
