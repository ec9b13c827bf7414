"""Parsing is cached by content; every caller still gets a document of its own."""

from __future__ import annotations

from pathlib import Path

from release.config.source import open_source
from release.config.yamldoc import Document, parse


def test_cached_documents_are_independent_copies() -> None:
    raw = b"name: a\nlist: [1, 2]\n"
    first, second = parse("a.yaml", raw), parse("a.yaml", raw)
    assert isinstance(first, Document) and isinstance(second, Document)
    first.data["list"].append(3)
    first.lines[("x",)] = 9
    assert second.data == {"name": "a", "list": [1, 2]}
    assert ("x",) not in second.lines
    other = parse("b.yaml", raw)
    assert isinstance(other, Document) and other.path == "b.yaml"


def test_a_revision_reads_the_blobs_it_listed(config_repo: Path) -> None:
    with open_source(str(config_repo), "HEAD") as source:
        listed = [entry.path for entry in source.entries("channels")]
        assert listed and all(source.read(p) == (config_repo / p).read_bytes() for p in listed)
        assert source.read("keys/trust.yaml") == (config_repo / "keys/trust.yaml").read_bytes()
