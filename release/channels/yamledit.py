"""Re-pin a channel file in place: only the `version` value changes, every other byte stays.

ruamel's round-trip composer gives the exact character span of the value; we splice the new
value into the original text instead of re-dumping the document, so comments, quoting,
indentation and line endings are the author's (a dump would normalise them).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode


class EditError(ValueError):
    """The file cannot be edited safely (not a mapping, a multi-line value, ...)."""


def set_version(text: str, version: str) -> str:
    """`text` with `version:` set to `version` (replacing `follow:` if the channel follows)."""
    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError as exc:
        raise EditError(f"malformed YAML: {exc}") from exc
    if not isinstance(root, MappingNode):
        raise EditError("the file is not a YAML mapping")
    pairs: dict[str, tuple[Node, Node]] = {
        key.value: (key, value) for key, value in root.value if isinstance(key, ScalarNode)
    }
    if "version" in pairs:
        key, value = pairs["version"]
        start, end = _span(value, text)
        quote = "'" if getattr(value, "style", None) == "'" else '"'
        edited = text[:start] + f"{quote}{version}{quote}" + text[end:]
    elif "follow" in pairs:
        key, value = pairs["follow"]
        start, end = key.start_mark.index, _span(value, text)[1]
        edited = text[:start] + f'version: "{version}"' + text[end:]
    else:
        raise EditError("the file has neither `version:` nor `follow:`")
    _check(text, edited, version)
    return edited


def _span(node: Node, text: str) -> tuple[int, int]:
    start, end = node.start_mark.index, node.end_mark.index
    if not isinstance(node, ScalarNode) or "\n" in text[start:end]:
        raise EditError("the value is not a one-line scalar: edit the file by hand")
    return start, end


def _check(before: str, after: str, version: str) -> None:
    """The edit changed exactly the pin: same data otherwise, and `version` reads back as text."""
    expected: dict[str, Any] = dict(_load(before))
    expected.pop("follow", None)
    expected["version"] = version
    if dict(_load(after)) != expected:
        raise EditError("editing the file would change more than its version")


def _load(text: str) -> dict[str, Any]:
    data = YAML(typ="safe").load(text)
    if not isinstance(data, dict):
        raise EditError("the file is not a YAML mapping")
    return data
