"""Pages in a real browser: Debian's chromium, headless, one short-lived process per call.

`.ci/setup` installs chromium, so a missing browser fails the test rather than skipping it.
Each call gets its own profile directory and a time limit; the process is gone on return.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

TIMEOUT = 90
PHONE = (390, 844)  # a phone's viewport in CSS pixels


def chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(found).is_file(), "chromium is missing: .ci/setup installs it (apt chromium)"
    return found


def _run(url: str, *flags: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="chromium-", dir="/tmp") as profile:
        argv = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *flags,
            url,
        ]
        proc = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout


def dump_dom(url: str, png: Path | None = None, size: tuple[int, int] = PHONE) -> str:
    """The DOM after the browser parsed and rendered the page, serialized; with `png`, a
    screenshot of the page at `size` too (one browser start for both)."""
    shot = [f"--screenshot={png}", f"--window-size={size[0]},{size[1]}"] if png else []
    dom = _run(url, "--dump-dom", *shot).decode()
    if png is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return dom


@dataclass
class Dom(HTMLParser):
    """What a test reads from a rendered page: links, headings, table rows as text."""

    links: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    lang: str | None = None
    header_scopes: list[str | None] = field(default_factory=list)
    _cell: list[str] | None = None
    _heading: list[str] | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        got = dict(attrs)
        if tag == "html":
            self.lang = got.get("lang")
        elif tag == "a" and got.get("href"):
            self.links.append(str(got["href"]))
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
            if tag == "th":
                self.header_scopes.append(got.get("scope"))
        elif tag in ("h1", "h2"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag in ("h1", "h2") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


def parse(dom: str) -> Dom:
    parsed = Dom()
    parsed.feed(dom)
    return parsed
