"""YAML files with line numbers, and pydantic errors turned into `Problem`s that point at them."""

from __future__ import annotations

import copy
import difflib
import functools
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from release.errors import Problem

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int | None:
        """The line of the deepest part of `loc` that exists in the file."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def problem(self, loc: Loc, message: str, hint: str | None = None) -> Problem:
        return Problem(self.path, message, self.line(loc), dotted(loc) or None, hint)


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(path: str, raw: bytes) -> Document | Problem:
    """The document in `raw`, with the line of every key and item, or the Problem.

    Results are cached by content (planning loads two revisions whose files are mostly the
    same, and round-trip parsing costs milliseconds a file); each call gets its own copy.
    """
    parsed = _parse_cached(path, raw)
    if isinstance(parsed, Problem):
        return parsed
    return Document(parsed.path, copy.deepcopy(parsed.data), dict(parsed.lines))


def clear_cache() -> None:
    """Forget parsed files (benchmarks measure a cold start with it)."""
    _parse_cached.cache_clear()


@functools.lru_cache(maxsize=2048)
def _parse_cached(path: str, raw: bytes) -> Document | Problem:
    yaml = YAML(typ="rt")
    try:
        text = raw.decode("utf-8")
        node = yaml.load(text)
    except UnicodeDecodeError:
        return Problem(path, "is not UTF-8 text")
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "malformed YAML"
        return Problem(path, f"malformed YAML: {what}", line, hint="fix the YAML syntax")
    except YAMLError as exc:
        return Problem(path, f"malformed YAML: {exc}")
    lines: dict[Loc, int] = {(): 1}
    _index(node, (), lines)
    return Document(path, _plain(node), lines)


def _index(node: Any, loc: Loc, lines: dict[Loc, int]) -> None:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            line, _ = node.lc.key(key)
            lines[(*loc, str(key))] = line + 1
            _index(value, (*loc, str(key)), lines)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            line, _ = node.lc.item(i)
            lines[(*loc, i)] = line + 1
            _index(value, (*loc, i), lines)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def problems_from(doc: Document, model: type[BaseModel], exc: ValidationError) -> list[Problem]:
    """One Problem per pydantic error, with the file line and a hint where one helps."""
    found = []
    errors = exc.errors()
    for error in errors:
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "too_short" and _has_item_errors(errors, loc):
            continue  # pydantic counts only the valid items: the bad ones are reported already
        message = str(error["msg"]).removeprefix("Value error, ")
        hint = None
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key {key!r}"
            allowed = _allowed_keys(model, loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        elif kind == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif kind == "string_type" and isinstance(error.get("input"), int | float):
            hint = 'quote it, e.g. "7.10", so YAML keeps it as text'
        found.append(doc.problem(loc, message, hint))
    return found


def _has_item_errors(errors: Sequence[ErrorDetails], loc: Loc) -> bool:
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == loc for e in errors)


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found by walking `loc` through nested models, dicts, tuples."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(str(part))
        return info.annotation if info else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (tuple, list) and args:
        return args[0]
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the walk reaches the model inside."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            models = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(models) != 1:
                return annotation
            annotation = models[0]
        else:
            return annotation
