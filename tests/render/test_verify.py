"""What `release verify` prints for a release directory and for a channel, from results built
by hand."""

from __future__ import annotations

from release.channels.index import IndexCheck, SnapshotCheck
from release.channels.verify import ChannelVerifyResult
from release.integrity.keyring import Signature, SignatureCheck
from release.integrity.verify import FileResult, VerifyResult
from release.render.verify import count_problems, render_channel, render_verify

FPR = "6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"
LOCATION = "https://mirror.example/centos-7-genericcloud/7.9.2009.2"
GOOD = Signature("GOODSIG", FPR[-16:], FPR, FPR, reason="good signature by 'release-2026'", ok=True)


def _good() -> VerifyResult:
    return VerifyResult(
        LOCATION,
        "el7-stable",
        signatures=[
            SignatureCheck("SHA256SUMS", (GOOD,)),
            SignatureCheck("manifest.json", (GOOD,)),
        ],
        files=[
            FileResult("c7.qcow2", passed=["size", "sha256", "sha512"]),
            FileResult("c7.raw.xz", passed=["size", "sha256"]),
        ],
        image="centos-7-genericcloud",
        version="7.9.2009.2",
    )


def test_a_good_release() -> None:
    assert render_verify(_good()).splitlines() == [
        f"centos-7-genericcloud 7.9.2009.2 at {LOCATION} (channel el7-stable)",
        "signatures:",
        f"  ok    SHA256SUMS.asc  good signature by 'release-2026' ({FPR})",
        f"  ok    manifest.json.asc  good signature by 'release-2026' ({FPR})",
        "files:",
        "  ok    c7.qcow2  (size, sha256, sha512)",
        "  ok    c7.raw.xz  (size, sha256)",
        "OK: 2 files match their signed digests",
    ]


def test_a_bad_release() -> None:
    result = VerifyResult(
        "/srv/mirror/x/1.0",
        None,
        signatures=[
            SignatureCheck("SHA256SUMS", (GOOD,)),
            SignatureCheck(
                "SHA512SUMS",
                (Signature("BADSIG", "0123456789ABCDEF", reason="bad signature"),),
                ("SHA512SUMS.asc: bad signature",),
            ),
        ],
        files=[
            FileResult("x.qcow2", passed=["size"], problems=["sha256 differs", "sha512 differs"]),
            FileResult("x.vhd", passed=["size", "sha256"]),
        ],
        problems=["extra.bin is not listed in the signed checksum files"],
    )
    assert render_verify(result).splitlines() == [
        "release at /srv/mirror/x/1.0 (any channel)",
        "signatures:",
        f"  ok    SHA256SUMS.asc  good signature by 'release-2026' ({FPR})",
        "  FAIL  SHA512SUMS.asc: bad signature",
        "files:",
        "  FAIL  x.qcow2  sha256 differs; sha512 differs",
        "  ok    x.vhd  (size, sha256)",
        "problems:",
        "  FAIL  extra.bin is not listed in the signed checksum files",
        "FAILED: 4 problems",
    ]


def test_problems_are_counted_in_words() -> None:
    one = VerifyResult("l", None, files=[FileResult("f", problems=["short"])])
    assert count_problems(one) == "1 problem"
    assert render_verify(one).splitlines()[-1] == "FAILED: 1 problem"
    assert count_problems(VerifyResult("l", None, problems=["a", "b"])) == "2 problems"
    assert count_problems(_good()) == "0 problems"


def test_a_good_channel() -> None:
    result = ChannelVerifyResult(
        root="https://mirror.example",
        channel="el7-stable",
        index=IndexCheck("ok", "serial 4, signed by release-2026, expires 2027-01-01"),
        snapshot=SnapshotCheck(True, "the snapshot lists this index"),
        release=_good(),
    )
    assert render_channel(result).splitlines() == [
        "channel el7-stable at https://mirror.example",
        "  index: ok: serial 4, signed by release-2026, expires 2027-01-01",
        "  snapshot: the snapshot lists this index",
        *render_verify(_good()).splitlines(),
        "OK",
    ]


def test_a_channel_whose_index_was_refused() -> None:
    result = ChannelVerifyResult(
        root="/srv/mirror",
        channel="el7-stable",
        index=IndexCheck("expired", "expired on 2026-11-01"),
        problems=["el7-stable.json: expired on 2026-11-01", "no release was checked"],
    )
    assert render_channel(result).splitlines() == [
        "channel el7-stable at /srv/mirror",
        "  index: expired: expired on 2026-11-01",
        "FAIL  el7-stable.json: expired on 2026-11-01",
        "FAIL  no release was checked",
        "FAILED: 2 problems",
    ]


def test_a_channel_with_one_problem_says_problem() -> None:
    result = ChannelVerifyResult(root="r", channel="c", problems=["no index"])
    assert render_channel(result).splitlines()[-1] == "FAILED: 1 problem"


def test_a_channel_counts_its_release_problems_too() -> None:
    bad = VerifyResult("l", "c", files=[FileResult("f", problems=["short", "sha256 differs"])])
    result = ChannelVerifyResult(root="r", channel="c", release=bad, problems=["stale snapshot"])
    lines = render_channel(result).splitlines()
    assert lines[0] == "channel c at r"
    assert "FAILED: 2 problems" in lines  # the release's own line
    assert lines[-2:] == ["FAIL  stale snapshot", "FAILED: 3 problems"]


def test_text_is_printed_as_it_came_and_problems_are_counted_not_lines() -> None:
    """Names reach the renderer already checked (tests/hostile); the renderer only lays out."""
    result = VerifyResult(
        "/m/a|b/1.0", None, problems=["manifest.json: bad JSON\nat line 2 | `x`"], files=[]
    )
    assert render_verify(result).splitlines() == [
        "release at /m/a|b/1.0 (any channel)",
        "signatures:",
        "files:",
        "problems:",
        "  FAIL  manifest.json: bad JSON",
        "at line 2 | `x`",
        "FAILED: 1 problem",
    ]
