"""Turn rule, tariff and proposal files into models; every problem becomes ``path:line``.

A file's kind is its first key (SPEC): ``rulebook:``, ``tariff:`` or ``proposal:``. A directory
contributes its ``*.yaml``/``*.yml`` files (not its sub-directories: proposals live below
``tariffs/proposals`` and must not leak into the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pricing.errors import DiffpriceError, ErrorList, SpecError
from pricing.spec.proposal import Proposal
from pricing.spec.rulebook import Rulebook
from pricing.spec.tariff import Tariff
from pricing.spec.yamlfile import LineDict, line_of, load_yaml

KINDS: dict[str, type[BaseModel]] = {"rulebook": Rulebook, "tariff": Tariff,
                                     "proposal": Proposal}


@dataclass
class Specs:
    """Everything loaded from a set of paths, in a stable order."""

    rulebooks: dict[str, Rulebook] = field(default_factory=dict)
    tariffs: list[Tariff] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def spec_files(paths: list[Path]) -> list[Path]:
    """The YAML files named by ``paths`` (files as given, directories sorted, not recursive)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise SpecError(str(path), 0, "no such file or directory")
    return found


def load_specs(paths: list[Path]) -> Specs:
    """Load and model every file; collect all problems and raise them together."""
    specs = Specs()
    errors: list[DiffpriceError] = []
    seen_rulebooks: dict[str, str] = {}
    seen_tariffs: dict[str, str] = {}
    for path in spec_files(paths):
        specs.files.append(path)
        try:
            model = load_file(path)
        except ErrorList as exc:
            errors += exc.errors
            continue
        except SpecError as exc:
            errors.append(exc)
            continue
        where = f"{path}:{model.line}"
        if isinstance(model, Rulebook):
            if model.id in seen_rulebooks:
                errors.append(SpecError(str(path), model.line, f"duplicate rulebook id "
                                        f"'{model.id}' (also in {seen_rulebooks[model.id]})"))
                continue
            seen_rulebooks[model.id] = where
            specs.rulebooks[model.id] = model
        elif isinstance(model, Tariff):
            if model.id in seen_tariffs:
                errors.append(SpecError(str(path), model.line, f"duplicate tariff id "
                                        f"'{model.id}' (also in {seen_tariffs[model.id]})"))
                continue
            seen_tariffs[model.id] = where
            specs.tariffs.append(model)
        else:
            specs.proposals.append(model)
    if errors:
        raise ErrorList(errors)
    return specs


def load_file(path: Path) -> Rulebook | Tariff | Proposal:
    """One YAML file to its model, by its first key."""
    data = load_yaml(path)
    if not isinstance(data, LineDict) or not data:
        raise SpecError(str(path), getattr(data, "line", 1),
                        "expected a mapping whose first key is rulebook, tariff or proposal")
    kind = next(iter(data))
    if kind not in KINDS:
        raise SpecError(str(path), data.key_lines[kind],
                        f"unknown file kind '{kind}': the first key must be one of "
                        f"{', '.join(KINDS)}")
    return validate(KINDS[kind], data, str(path))


def validate(model: type[BaseModel], data: LineDict, path: str) -> Any:
    """Validate with pydantic and translate its errors into ``path:line: message``."""
    marked = dict(data)
    marked["__path__"] = path
    marked_data = LineDict(marked)
    marked_data.line, marked_data.key_lines = data.line, data.key_lines
    try:
        return model.model_validate(marked_data)
    except ValidationError as exc:
        raise ErrorList(_spec_errors(exc, data, path)) from None


def _spec_errors(exc: ValidationError, data: LineDict, path: str) -> list[SpecError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p != "__line__")
        kind = err["type"]
        line = line_of(data, loc + (("kind",) if kind == "union_tag_invalid" else ()))
        where = ".".join(str(p) for p in loc if not _is_tag(p))
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
        elif kind == "missing":
            message = f"missing required key '{where}'"
        elif kind == "union_tag_invalid":
            message = (f"{where or 'component'}: unknown kind "
                       f"{err.get('ctx', {}).get('tag')!r}, expected "
                       "flat, stepped or over_quota")
        elif kind == "union_tag_not_found":
            message = f"{where}: missing 'kind' (flat, stepped or over_quota)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            found = err.get("input")
            shown = "" if isinstance(found, dict | list) or found is None else \
                f", found {found!r}"
            message = f"{where + ': ' if where else ''}{msg}{shown}"
        errors.append(SpecError(path, line, message))
    return errors


def _is_tag(part: Any) -> bool:
    return part in ("flat", "stepped", "over_quota")
