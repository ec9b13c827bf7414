"""docs/config-reference.md is generated from the schemas: it must be current."""

from __future__ import annotations

from release.docs import cli_reference, reference, type_of
from tests.conftest import ROOT


def test_the_config_reference_is_current() -> None:
    text = (ROOT / "docs" / "config-reference.md").read_text()
    assert text == reference(), "regenerate: python -m release.docs > docs/config-reference.md"


def test_every_field_of_every_kind_is_listed() -> None:
    text = reference()
    for field in ("`qcow2_compat`", "`follow`", "`index_ttl`", "`not_after`", "`endpoint_url`"):
        assert f"| {field} |" in text


def test_types_read_like_prose() -> None:
    assert type_of({"type": "array", "items": {"enum": ["a", "b"]}}) == 'list of `"a"` \\| `"b"`'
    assert type_of({"$ref": "#/$defs/Disk"}) == "[Disk](#disk)"
    assert type_of({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string or null"


def test_the_cli_reference_is_current() -> None:
    text = (ROOT / "docs" / "cli-reference.md").read_text()
    assert text == cli_reference(), "regenerate: python -m release.docs cli > docs/cli-reference.md"


def test_the_cli_reference_has_every_command() -> None:
    text = cli_reference()
    for name in ("build", "check", "convert", "demo", "doctor", "keys", "plan", "promote",
                 "push", "render", "rollback", "schema", "seal", "verify"):  # fmt: skip
        assert f"## `release {name}`" in text
    assert "## `release keys list`" in text
