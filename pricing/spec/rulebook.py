"""The rulebook model (SPEC "Rulebooks"): what a YAML rulebook may say, and nothing else."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pricing.spec.base import Codes, Period, SpecModel, spec_id
from pricing.spec.yamlfile import LineDict

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UNCLASSIFIED = "unclassified"
DECIDED_BY = ("rule", "default", "missing", "override", "unclassified", "conflict")


class Scope(SpecModel):
    industry: Codes
    districts: Codes | None = None


class FieldSpec(SpecModel):
    type: Literal["number", "string", "boolean"]
    unit: str | None = None
    description: str | None = None


class Table(SpecModel):
    """A look-up table such as energy limits per product (GB standards)."""

    key: str
    values: dict[str, Decimal | str]
    unit: str | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _keys_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


class Metric(SpecModel):
    name: str
    expr: str


class Rule(SpecModel):
    id: str
    class_: str = Field(alias="class")
    when: str
    because: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _when_is_text(cls, value: Any) -> Any:
        return value if isinstance(value, str) else _refuse_non_text(value)


class Bands(SpecModel):
    """One metric cut into the classes in order (SPEC: ``bands`` shorthand)."""

    metric: str
    edges: list[Decimal]
    closed: Literal["right", "left"] = "right"

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: list[Decimal]) -> list[Decimal]:
        if not edges:
            raise ValueError("at least one edge is needed")
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError("edges must be strictly increasing")
        return edges


class ExampleExpect(SpecModel):
    class_: str | None = Field(None, alias="class")
    rule: str | None = None
    decided_by: Literal[DECIDED_BY] | None = None  # type: ignore[valid-type]


class Example(SpecModel):
    name: str
    input: dict[str, Any]
    expect: ExampleExpect


class Rulebook(SpecModel):
    id: spec_id("rulebook") = Field(alias="rulebook")  # type: ignore[valid-type]
    title: str
    source: str
    effective: Period | None = None
    scope: Scope
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    tables: dict[str, Table] = Field(default_factory=dict)
    metrics: list[Metric] = Field(default_factory=list)
    classes: list[str]
    hit_policy: Literal["worst", "first", "unique"] = "worst"
    default: str
    on_missing: str
    rules: list[Rule] = Field(default_factory=list)
    bands: Bands | None = None
    examples: list[Example] = Field(default_factory=list)
    path: str = Field("", alias="__path__", exclude=True)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_in_file_order(cls, value: Any) -> Any:
        """``metrics: {name: expr}`` becomes a list that keeps each metric's line."""
        if not isinstance(value, dict):
            return value
        lines = value.key_lines if isinstance(value, LineDict) else {}
        return [
            {"name": name, "expr": expr if isinstance(expr, str) else _refuse_non_text(expr),
             "__line__": lines.get(name, 0)}
            for name, expr in value.items()
        ]

    @model_validator(mode="after")
    def _names_and_classes(self) -> Rulebook:
        problems = []
        for name in [*self.fields, *self.tables, *(m.name for m in self.metrics)]:
            if not NAME_PATTERN.match(name):
                problems.append(f"'{name}' is not a valid name (letters, digits, _)")
        if len(set(self.classes)) != len(self.classes) or not self.classes:
            problems.append("classes must be a non-empty list without repeats")
        if UNCLASSIFIED in self.classes:
            problems.append(f"'{UNCLASSIFIED}' is reserved and cannot be a class")
        if self.bands is not None:
            if self.rules:
                problems.append("a rulebook has either 'bands' or 'rules', not both")
            if len(self.bands.edges) + 1 != len(self.classes):
                problems.append(
                    f"bands with {len(self.bands.edges)} edges need "
                    f"{len(self.bands.edges) + 1} classes, found {len(self.classes)}")
        elif not self.rules:
            problems.append("a rulebook needs 'rules' or 'bands'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def severity(self, class_: str) -> int:
        """0 for the mildest class (SPEC: classes are listed from mildest to most severe)."""
        return self.classes.index(class_)

    def all_rules(self) -> list[Rule]:
        """The written rules, or the rules that ``bands`` stands for (``band-1``, …)."""
        if self.bands is None:
            return list(self.rules)
        metric, edges = self.bands.metric, [_num(e) for e in self.bands.edges]
        low, high = ("<", "<=") if self.bands.closed == "right" else ("<=", "<")
        upper = "<=" if self.bands.closed == "right" else "<"
        lower = ">" if self.bands.closed == "right" else ">="
        conditions = [f"{metric} {upper} {edges[0]}"]
        conditions += [f"{a} {low} {metric} {high} {b}" for a, b in zip(edges, edges[1:],
                                                                         strict=False)]
        conditions.append(f"{metric} {lower} {edges[-1]}")
        line = self.bands.line
        return [
            Rule.model_validate({"id": f"band-{i}", "class": cls, "when": when,
                                 "because": f"band {i} of {metric}", "__line__": line})
            for i, (cls, when) in enumerate(zip(self.classes, conditions, strict=True), start=1)
        ]


def _num(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _refuse_non_text(value: Any) -> Any:
    raise ValueError(f"an expression must be text, found {type(value).__name__} {value!r}")
