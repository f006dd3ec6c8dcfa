"""Read untrusted YAML safely, keeping the line of every key and item.

Rule and tariff files come from districts and colleagues: they are parsed with PyYAML's
SafeLoader only (no tags that build objects), anchors and aliases are refused (no billion-laughs
expansion), duplicate keys are refused, files are size-bounded, and floats become ``Decimal``
from their text so tariff rates are exact.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from pricing.errors import SpecError

MAX_FILE_BYTES = 1_000_000


class LineDict(dict):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    path = "<yaml>"

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SpecError(self.path, event.start_mark.line + 1,
                            "YAML aliases (*name) are not allowed in rule and tariff files")
        return super().compose_node(parent, index)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int):
            raise SpecError(loader.path, key_node.start_mark.line + 1,
                            f"a key must be text, found {type(key).__name__}")
        key = str(key)
        if key in result:
            raise SpecError(loader.path, key_node.start_mark.line + 1,
                            f"duplicate key '{key}' (first at line {result.key_lines[key]})")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


def _decimal(loader: _Loader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise SpecError(loader.path, node.start_mark.line + 1,
                        f"'{text}' is not a number") from exc
    if not value.is_finite():
        raise SpecError(loader.path, node.start_mark.line + 1,
                        f"'{text}' is not a finite number")
    return value


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's scanner and composer with the same safe constructors as ``_Loader``.

    libyaml resolves aliases inside its composer, so they are found afterwards as a node
    reached twice (see ``_shares_nodes``); the reference ``_Loader`` then reports them.
    """

    path = "<yaml>"


for _cls in (_Loader, _FastLoader):
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)
    _cls.add_constructor("tag:yaml.org,2002:float", _decimal)


def load_yaml(path: Path) -> Any:
    """Parse one file; every problem is a ``SpecError`` naming ``path:line``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(str(path), 0, f"cannot read file: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(str(path), 0, f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), 0, "file is not UTF-8 text") from exc
    return loads(text, str(path))


def loads(text: str, path: str = "<yaml>") -> Any:
    """Parse YAML text as ``load_yaml`` does (used by tests and examples).

    libyaml parses several times faster than the pure-Python reader; any file it cannot take
    cleanly (an error, an alias, a character the reference reader refuses) is parsed again by
    ``_Loader``, so errors and their lines are always the reference loader's.
    """
    if yaml.__with_libyaml__ and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        fast = _fast_loads(text, path)
        if fast is not _FALLBACK:
            return fast
    return _reference_loads(text, path)


_FALLBACK = object()


def _fast_loads(text: str, path: str) -> Any:
    loader = _FastLoader(text)
    loader.path = path
    try:
        node = loader.get_single_node()
        if node is None or _shares_nodes(node):
            return _FALLBACK if node is not None else None
        return loader.construct_document(node)
    except (SpecError, yaml.YAMLError, RecursionError):
        return _FALLBACK
    finally:
        loader.dispose()


def _shares_nodes(root: yaml.Node) -> bool:
    """Whether some node is reached twice: what an alias composes to."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return False


def _reference_loads(text: str, path: str) -> Any:
    loader = _Loader(text)
    loader.path = path
    try:
        return loader.get_single_data()
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise SpecError(path, line, f"YAML syntax error: {exc.problem or exc}") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise SpecError(path, 0, f"YAML error: {exc}") from exc
    finally:
        loader.dispose()


def line_of(root: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest node of ``loc`` (a pydantic error location) found in ``root``."""
    line = getattr(root, "line", 0)
    node = root
    for part in loc:
        if isinstance(node, LineDict) and str(part) in node:
            line = node.key_lines.get(str(part), line)
            node = node[str(part)]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            continue
        line = getattr(node, "line", line) if isinstance(node, LineDict | LineList) else line
    return line
