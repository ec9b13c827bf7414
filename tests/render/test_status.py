"""`release status` as plain columns and as a rich table, from results built by hand."""

from __future__ import annotations

import re

from release.channels.status import Row, Status
from release.render.status import render_rich, render_text

REV = "c0ffee" + "0" * 34
IN_SYNC = Row(
    "el7-stable",
    "local",
    "centos-7 1.0",
    "1.0",
    3,
    "2027-01-01T00:00:00Z",
    "29d 23h",
)
IMPORT = Row(
    "el7-testing",
    "gce",
    "centos-7 1.1",
    "centos-7-v1",
    None,
    None,
    "",
    images={"europe-west1": "centos-7-v1", "asia-east1": "centos-7-v1a"},
    drift=True,
    action="import 1.1",
)
RETIRE = Row(
    "el6-old", "local", "", "", None, None, "", {}, True, "retire: drop its index from the snapshot"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_columns_in_sync() -> None:
    assert render_text(Status(REV, [IN_SYNC])).splitlines() == [
        "channel     target  desired       published  serial  expires in  drift    action",
        "el7-stable  local   centos-7 1.0  1.0        3       29d 23h     in sync  nothing",
        "in sync at c0ffee000000: every target has what git asks for",
    ]


def test_columns_with_drift_images_and_a_retired_channel() -> None:
    assert render_text(Status(REV, [IN_SYNC, IMPORT, RETIRE])).splitlines() == [
        "channel      target  desired       published    serial  expires in  drift    action",
        "el7-stable   local   centos-7 1.0  1.0          3       29d 23h     in sync  nothing",
        "el7-testing  gce     centos-7 1.1  centos-7-v1          -           DRIFT    import 1.1",
        "el6-old      local   -             -                    -           DRIFT    retire: drop"
        " its index from the snapshot",
        "  el7-testing on gce: asia-east1 image centos-7-v1a",  # places in order
        "  el7-testing on gce: europe-west1 image centos-7-v1",
        "drift at c0ffee000000: 2 of 3 differ",
    ]


def test_no_rows() -> None:
    assert render_text(Status("abc")).splitlines() == [
        "channel  target  desired  published  serial  expires in  drift  action",
        "in sync at abc: every target has what git asks for",
    ]


def test_the_rich_table() -> None:
    out = render_rich(Status(REV, [IN_SYNC, IMPORT]), width=200)
    assert "\x1b[" in out  # colours: it is for a terminal
    plain = ANSI.sub("", out).splitlines()
    assert plain[0].strip() == "release status at c0ffee000000"
    assert plain[-1] == "drift at c0ffee000000: 1 of 2 differ"
    header = next(line for line in plain if "channel" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "channel",
        "target",
        "desired",
        "published",
        "serial",
        "expires in",
        "drift",
        "action",
    ]
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in plain if "│" in line]
    assert rows[0] == ["el7-stable", "local", "centos-7 1.0", "1.0", "3", "29d 23h", "in sync",
                       "nothing"]  # fmt: skip
    # a registry's images, one a line, in place of the published version
    assert rows[1] == ["el7-testing", "gce", "centos-7 1.1", "centos-7-v1a (asia-east1)", "",
                       "-", "DRIFT", "import 1.1"]  # fmt: skip
    assert rows[2] == ["", "", "", "centos-7-v1 (europe-west1)", "", "", "", ""]
    assert len(rows) == 3


def test_the_rich_table_shows_brackets_as_they_are() -> None:
    odd = Row("el7", "gce", "c 1", "", None, None, "", images={"eu": "img[/]"}, drift=True)
    assert "img[/] (eu)" in ANSI.sub("", render_rich(Status(REV, [odd]), width=200))
