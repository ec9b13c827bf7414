"""Property-based tests of every parser: any input gives a value or one of our own errors,
and what we render parses back to the same value.

RELEASE_FUZZ_EXAMPLES sets the examples per property (default 150; CI keeps the default).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import string
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from release.channels.index import (
    ChannelIndex,
    IndexedRelease,
    Snapshot,
    canonical,
    check_index,
    check_snapshot,
    parse_index,
    sha256_hex,
)
from release.errors import InvalidInput, ReleaseError
from release.formats import ova
from release.integrity import checksums
from release.integrity.checksums import ChecksumFileError, Entry
from release.integrity.manifest import Manifest, ManifestError, Package, parse_packages
from release.integrity.sbom import spdx_document
from release.model.base import parse_duration, parse_size
from release.model.target import FilesystemTarget, GcsTarget, RsyncTarget, S3Target
from release.names import name_problem
from release.publish import url
from tests.hostile import corpus

pytestmark = pytest.mark.chaos

EXAMPLES = int(os.environ.get("RELEASE_FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

safe_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,40}", fullmatch=True).filter(
    lambda n: name_problem(n) is None
)
hexes = {n: st.text("0123456789abcdef", min_size=n, max_size=n) for n in (32, 40, 64)}
LENGTH = {"md5": 32, "sha1": 40, "sha256": 64}
hostile_text = st.text(
    st.characters(codec="utf-8") | st.sampled_from(list("/\\.\0\r\n \t*()=")), max_size=80
)


# ---------------------------------------------------------------- checksum files


@PROFILE
@given(data=st.binary(max_size=300), algo=st.sampled_from(sorted(LENGTH)))
@example(data=b"\\" + b"0" * 64 + b"  x\n", algo="sha256")
def test_checksums_parse_any_bytes(data: bytes, algo: str) -> None:
    try:
        entries = checksums.parse(data, algo, "sums.txt")
    except ChecksumFileError as error:
        assert str(error).startswith("sums.txt")
        return
    for entry in entries:
        assert checksums.unsafe_name(entry.name) is None
        assert len(entry.hexdigest) == LENGTH[algo]


@PROFILE
@given(st.sampled_from(sorted(LENGTH)), st.data())
def test_checksums_round_trip(algo: str, data: st.DataObject) -> None:
    names = data.draw(st.lists(safe_names, min_size=1, max_size=8, unique=True))
    entries = [Entry(n, data.draw(hexes[LENGTH[algo]])) for n in names]
    rendered = checksums.render(entries)
    parsed = checksums.parse(rendered, algo, "sums.txt")
    assert parsed == sorted(entries, key=lambda e: e.name)
    assert checksums.render(parsed) == rendered


@PROFILE
@given(name=hostile_text)
def test_checksums_render_refuses_what_parse_would(name: str) -> None:
    line = f"{'0' * 64}  {name}\n".encode()
    try:
        checksums.parse(line, "sha256", "s")
    except ChecksumFileError:
        with pytest.raises(ValueError, match="name"):
            checksums.render([Entry(name, "0" * 64)])


# ---------------------------------------------------------------- manifest.json


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)


@PROFILE
@given(
    path=st.lists(
        st.sampled_from(["artifacts", 0, "name", "digests", "size", "build"]),
        min_size=1,
        max_size=4,
    ),
    value=json_values,
)
def test_manifest_with_any_field_replaced(path: list[str | int], value: object) -> None:
    document: object = corpus.manifest()
    node = document
    for key in path[:-1]:
        try:
            node = node[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return
    try:
        node[path[-1]] = value  # type: ignore[index]
    except (IndexError, TypeError):
        return
    _parse_manifest(corpus.dumps(document))


@PROFILE
@given(data=st.binary(max_size=200))
def test_manifest_any_bytes(data: bytes) -> None:
    _parse_manifest(data)


def _parse_manifest(data: bytes) -> None:
    try:
        parsed = Manifest.parse(data)
    except ManifestError as error:
        assert str(error).startswith("manifest.json: not a valid release manifest")
        return
    assert Manifest.parse(parsed.render()) == parsed


@PROFILE
@given(
    names=st.lists(safe_names, min_size=1, max_size=4, unique=True),
    size=st.integers(0, 1 << 50),
    when=st.datetimes(timezones=st.just(dt.UTC)),
)
def test_manifest_round_trip(names: list[str], size: int, when: dt.datetime) -> None:
    document = corpus.manifest()
    document["build"]["time"] = when.isoformat()
    document["files"] = [{"name": n, "size": size, "digests": corpus.digests()} for n in names]
    parsed = Manifest.parse(corpus.dumps(document))
    rendered = parsed.render()
    assert Manifest.parse(rendered) == parsed
    assert Manifest.parse(rendered).render() == rendered  # render(parse(x)) == x


# ---------------------------------------------------------------- package lists and SBOM


package_fields = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)


@PROFILE
@given(text=st.text(max_size=300))
@example(text="a ² 1 1 x\n")  # a Unicode digit that int() refuses
@example(text="a (none) 1 1 x\n")
def test_packages_any_text(text: str) -> None:
    try:
        packages = parse_packages(text, "p.packages")
    except InvalidInput as error:
        assert str(error).startswith("p.packages:")
        return
    assert all(p.epoch >= 0 for p in packages)


@PROFILE
@given(
    rows=st.lists(
        st.tuples(
            package_fields, st.integers(0, 99), package_fields, package_fields, package_fields
        ),
        max_size=10,
    )
)
def test_packages_round_trip_and_sbom(rows: list[tuple[str, int, str, str, str]]) -> None:
    text = "".join(f"{n}\t{e}\t{v}\t{r}\t{a}\n" for n, e, v, r, a in rows)
    packages = parse_packages(text, "p.packages")
    expected = sorted(
        (Package(name=n, epoch=e, version=v, release=r, arch=a) for n, e, v, r, a in rows),
        key=lambda p: (p.name, p.arch, p.evr()),
    )
    assert list(packages) == expected
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    document = spdx_document("img", "1.0", "base", packages, when)
    ids = [p["SPDXID"] for p in document["packages"]]
    assert len(set(ids)) == len(ids) == len(rows) + 1
    assert all(re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", i) for i in ids)
    assert json.loads(json.dumps(document)) == document


# ---------------------------------------------------------------- channel index and snapshot


NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


@st.composite
def indexes(draw: st.DrawFn) -> ChannelIndex:
    issued = draw(times).replace(microsecond=0)

    def release() -> IndexedRelease:
        image, version = (
            draw(safe_names),
            draw(
                st.from_regex(r"[0-9][0-9a-z.]{0,10}", fullmatch=True).filter(
                    lambda v: ".." not in v
                )
            ),
        )
        return IndexedRelease(
            image=image, version=version, path=f"{image}/{version}", manifest_sha256=draw(hexes[64])
        )

    return ChannelIndex(
        serial=draw(st.integers(1, 1 << 62)),
        issued=issued,
        expires=issued + dt.timedelta(seconds=draw(st.integers(1, 10**8))),
        channel=draw(safe_names),
        current=release(),
        history=tuple(release() for _ in range(draw(st.integers(0, 3)))),
    )


@PROFILE
@given(index=indexes())
def test_index_round_trip(index: ChannelIndex) -> None:
    data = canonical(index)
    assert parse_index(data) == index
    assert canonical(parse_index(data)) == data
    result = check_index(data, index.issued, index.serial, channel=index.channel)
    assert result.ok and result.index == index


@PROFILE
@given(data=st.binary(max_size=300), serial=st.none() | st.integers(0, 10))
def test_check_index_any_bytes(data: bytes, serial: int | None) -> None:
    result = check_index(data, NOW, serial, channel="stable")
    assert result.status == "invalid" and result.message


@PROFILE
@given(changes=st.dictionaries(st.sampled_from(sorted(corpus.index())), json_values, max_size=3))
def test_check_index_any_field_values(changes: dict[str, object]) -> None:
    result = check_index(corpus.dumps(corpus.index(**changes)), NOW, None, channel="stable")
    assert result.status in {"ok", "invalid", "wrong-channel", "expired"}
    assert result.ok == (result.status == "ok")


@PROFILE
@given(
    data=st.binary(max_size=300),
    indexes=st.dictionaries(hostile_text, st.binary(max_size=8), max_size=3),
)
def test_check_snapshot_any_bytes(data: bytes, indexes: dict[str, bytes]) -> None:
    result = check_snapshot(data, indexes, now=NOW)
    assert not result.ok and result.message


@PROFILE
@given(index=indexes(), serial=st.integers(1, 1000))
def test_snapshot_round_trip(index: ChannelIndex, serial: int) -> None:
    data = canonical(index)
    snapshot = Snapshot(
        serial=serial,
        issued=index.issued,
        expires=index.expires,
        indexes={index.channel: sha256_hex(data)},
    )
    snap_bytes = canonical(snapshot)
    assert check_snapshot(snap_bytes, {index.channel: data}, now=index.issued).ok
    assert not check_snapshot(snap_bytes, {index.channel: data + b" "}, now=index.issued).ok


# ---------------------------------------------------------------- OVF descriptor and OVA manifest


@PROFILE
@given(
    cpus=st.integers(1, 256),
    memory=st.integers(1, 1 << 20),
    name=safe_names,
    capacity=st.integers(1, 1 << 50),
    size=st.integers(0, 1 << 40),
)
def test_ovf_descriptor_round_trip(
    cpus: int, memory: int, name: str, capacity: int, size: int
) -> None:
    machine = ova.Machine(
        name=name, product=name, version="1", cpus=cpus, memory_mib=memory,
        disk_file=f"{name}.vmdk", disk_file_size=size, capacity=capacity,
    )  # fmt: skip
    ova._check_descriptor(ova.descriptor(machine), f"{name}.vmdk", size, capacity)
    with pytest.raises(ValueError, match="capacity"):
        ova._check_descriptor(ova.descriptor(machine), f"{name}.vmdk", size, capacity + 1)


OVF_ERRORS = (ET.ParseError, ValueError)  # what check_ova turns into VerificationError


@PROFILE
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_ovf_descriptor_any_bytes(data: bytes) -> None:
    try:
        ova._check_descriptor(data, "x.vmdk", 1, 1)
    except OVF_ERRORS:
        return
    raise AssertionError("garbage accepted as a descriptor")


def test_ovf_descriptor_entity_expansion_is_refused() -> None:
    laughs = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "' + "x" * 100 + '">'
    for level in range(1, 9):
        laughs += f'<!ENTITY {chr(97 + level)} "' + f"&{chr(96 + level)};" * 10 + '">'
    laughs += "]><l>&i;</l>"
    with pytest.raises(ET.ParseError, match="amplification"):
        ova._check_descriptor(laughs.encode(), "x.vmdk", 1, 1)


@PROFILE
@given(text=st.text(max_size=300))
def test_ova_manifest_any_text(text: str) -> None:
    try:
        entries = ova.parse_manifest(text)
    except ValueError as error:
        assert "manifest line" in str(error)
        return
    assert all(algo in {"sha1", "sha256"} for algo, _, _ in entries)


@PROFILE
@given(
    files=st.dictionaries(safe_names, st.tuples(hexes[64], hexes[40]), min_size=1, max_size=4),
    sha1=st.booleans(),
)
def test_ova_manifest_round_trip(files: dict[str, tuple[str, str]], sha1: bool) -> None:
    digests = {n: {"sha256": a, "sha1": b} for n, (a, b) in files.items()}
    parsed = ova.parse_manifest(ova.manifest(digests, sha1).decode())
    expected = [
        (algo, n, d[algo])
        for n, d in digests.items()
        for algo in (["sha256", "sha1"] if sha1 else ["sha256"])
    ]
    assert parsed == expected


# ------------------------------------------------ target URLs, sizes, durations, names


@PROFILE
@given(
    text=hostile_text
    | st.sampled_from(["s3://", "gs://", "file://", "rsync://"]).flatmap(
        lambda s: hostile_text.map(lambda t: s + t)
    )
)
@example(text="file://[")  # found by atheris: urlsplit's ValueError escaped
@example(text="s3://[x")
@example(text="rsync://[::1/m/p")
def test_target_url_any_text(text: str) -> None:
    try:
        target = url.parse(text)
    except InvalidInput as error:
        assert text in str(error) or "endpoint" in str(error)
        return
    assert isinstance(target, FilesystemTarget | S3Target | GcsTarget | RsyncTarget)
    if isinstance(target, S3Target | GcsTarget):
        assert ".." not in target.prefix.split("/")


@PROFILE
@given(
    scheme=st.sampled_from(["s3", "gs"]),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True),
    parts=st.lists(safe_names, max_size=3),
)
def test_target_url_round_trip(scheme: str, bucket: str, parts: list[str]) -> None:
    prefix = "/".join(parts)
    target = url.parse(f"{scheme}://{bucket}/{prefix}")
    assert isinstance(target, S3Target | GcsTarget)
    assert (target.bucket, target.prefix) == (bucket, prefix)


@PROFILE
@given(
    value=st.integers()
    | st.booleans()
    | st.none()
    | st.floats()
    | hostile_text
    | st.from_regex(r"\s?\d{1,30}\s?[KMGT]?(iB|B)?\s?", fullmatch=True)
)
def test_sizes_and_durations_any_value(value: object) -> None:
    for parse in (parse_size, parse_duration):
        try:
            assert parse(value) > 0
        except ValueError as error:
            assert str(error)


@PROFILE
@given(number=st.integers(1, 1 << 40), unit=st.sampled_from(["", "K", "M", "G", "T"]))
def test_size_units(number: int, unit: str) -> None:
    factor = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
    assert parse_size(f"{number}{unit}{'iB' if unit else ''}") == number * factor
    assert parse_size(f"{number}{unit}") == number * factor


@PROFILE
@given(name=hostile_text)
def test_names_safe_means_a_plain_path_component(name: str) -> None:
    if name_problem(name) is None:
        assert "/" not in name and "\0" not in name and name not in (".", "..")
        assert not name.startswith("-") and name == name.strip()
        assert all(c in string.ascii_letters + string.digits + "._+-" for c in name)


def test_only_our_own_errors_are_caught_above() -> None:
    # The properties above accept ChecksumFileError, ManifestError, InvalidInput: all ReleaseError.
    for error in (ChecksumFileError, ManifestError, InvalidInput):
        assert issubclass(error, ReleaseError)
