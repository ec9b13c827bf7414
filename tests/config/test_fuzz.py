"""Hostile config input: whatever the files hold, loading reports Problems and never crashes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from release.config.check import check
from release.config.loader import load
from release.config.rules import check_repo
from release.config.source import Entry
from release.integrity.keyinfo import read_key_bytes

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = YAML(typ="safe").load((ROOT / "images/centos-7-genericcloud.yaml").read_text())

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=20), st.sampled_from(["../x", "/etc/passwd", "a\x00b", "8GiB", "latest"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class MemorySource:
    """An in-memory config repo: the real loader runs over it unchanged."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def entries(self, folder: str) -> list[Entry]:
        return [Entry(p, False) for p in sorted(self.files) if p.rsplit("/", 1)[0] == folder]

    def read(self, path: str) -> bytes:
        return self.files[path]

    @property
    def revision(self) -> str | None:
        return None

    @property
    def root(self) -> Path | None:
        return None


def _dump(data: Any) -> bytes:
    import io

    out = io.StringIO()
    YAML(typ="safe").dump(data, out)
    return out.getvalue().encode()


def _loads_cleanly(files: dict[str, bytes]) -> None:
    repo = load(MemorySource(files))
    check_repo(repo, read_key_bytes)
    for problem in repo.problems:
        assert problem.file in files or problem.file.startswith(("images/", "channels/", "keys/"))
        assert str(problem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _loads_cleanly({"images/a.yaml": raw, "channels/c.yaml": raw, "keys/trust.yaml": raw})


@settings(max_examples=200, deadline=None)
@given(
    path=st.lists(st.sampled_from([*sorted(BASE_IMAGE), "variants", "template", "disk", "x"]),
                  min_size=1, max_size=3),
    value=values,
)  # fmt: skip
def test_one_field_replaced_by_anything(path: list[str], value: Any) -> None:
    data = copy.deepcopy(BASE_IMAGE)
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    channel = {"image": "centos-7-genericcloud", "version": "latest"}
    _loads_cleanly({"images/a.yaml": _dump(data), "channels/c.yaml": _dump(channel)})


def test_fuzzed_repo_on_disk_via_public_api(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images/a.yaml").write_bytes(b"\xff\xfe not utf8")
    report = check(str(tmp_path), keys=read_key_bytes)
    assert [p.message for p in report.problems] == ["is not UTF-8 text"]
