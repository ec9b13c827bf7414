"""Helpers for the model tests: validate a mapping, and read a refusal's field paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]

Loc = tuple[int | str, ...]


def shipped(path: str) -> dict[str, Any]:
    """A YAML file of the config this repository ships, as plain data."""
    data = YAML(typ="safe").load((ROOT / path).read_text())
    assert isinstance(data, dict), path
    return data


def refusal(model: type[BaseModel] | TypeAdapter[Any], data: object) -> list[dict[str, Any]]:
    """The errors pydantic reports for `data` (fails the test when it validates)."""
    with pytest.raises(ValidationError) as caught:
        if isinstance(model, TypeAdapter):
            model.validate_python(data)
        else:
            model.model_validate(data)
    return [dict(error) for error in caught.value.errors()]


def only(model: type[BaseModel] | TypeAdapter[Any], data: object) -> tuple[Loc, str]:
    """The field path and message of the one error `data` has."""
    errors = refusal(model, data)
    assert len(errors) == 1, errors
    return tuple(errors[0]["loc"]), str(errors[0]["msg"])
