"""The browsable mirror, as pure functions: signed indexes and manifests in, HTML out.

Three kinds of page, each plain HTML with its CSS inline (no script, readable on a phone):
the front page `index.html` (a row per channel), `<image>/index.html` (the image's version
history across channels) and `<image>/<version>/index.html` (the files of one release, their
sizes and digests, signatures, SBOMs, the signing key and how to verify). Everything shown
comes from mirror content, which is untrusted: every value goes through `html.escape`, and
every link is a relative path built from validated names.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from release.channels.index import INDEX_PATH, SNAPSHOT_PATH, ChannelIndex, IndexedRelease, rfc3339
from release.integrity.checksums import CHECKSUM_FILES
from release.integrity.manifest import MANIFEST, Artifact, FileRecord, Manifest, classify
from release.model.base import version_key

PAGE = "index.html"
KEY_PATH = "keys/{fingerprint}.asc"
CATALOGUE_PATH = "streams/v1/{channel}.json"
SIGNATURE = ".asc"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:72rem;padding:1rem;color:#1a1a1a;background:#fff;line-height:1.5}
a{color:#0b57d0}a:visited{color:#6a1b9a}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{border-bottom:1px solid #c8c8c8;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9rem}
td code{word-break:break-all}
pre{background:#f4f4f4;padding:.75rem;overflow-x:auto;white-space:pre}
nav{margin-bottom:1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th[scope=row]{background:none}
@media (max-width:40rem){body{padding:.5rem}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table,tbody,tr,th,td{display:block}
tr{border:1px solid #c8c8c8;border-radius:.25rem;margin-bottom:.75rem;padding:.25rem}
th,td{border:none;padding:.1rem .25rem}
td::before{content:attr(data-label) ": ";font-weight:600}}
"""


@dataclass(frozen=True)
class Link:
    text: str
    href: str


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def snapshot_meta(snapshot_sha256: str) -> str:
    """The front page's record of the snapshot it shows: pages behind it are rewritten."""
    return f'<meta name="snapshot-sha256" content="{esc(snapshot_sha256)}">'


def _page(
    title: str, body: Iterable[str], nav: Sequence[Link] = (), meta: Sequence[str] = ()
) -> str:
    crumbs = " / ".join(_a(link) for link in nav)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        *meta,
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    top = [f'<nav aria-label="breadcrumb">{crumbs}</nav>'] if nav else []
    return "\n".join(
        [
            *head,
            *top,
            "<main>",
            f"<h1>{esc(title)}</h1>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _a(link: Link) -> str:
    return f'<a href="{esc(link.href)}">{esc(link.text)}</a>'


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells are HTML already (escaped by the caller); the first cell of a row heads it."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = []
    for row in rows:
        first, *rest = row
        labels = [esc(h) for h in headers[1:]]
        cells = "".join(
            f'<td data-label="{label}">{cell}</td>'
            for label, cell in zip(labels, rest, strict=True)
        )
        body.append(f'<tr><th scope="row">{first}</th>{cells}</tr>')
    return "\n".join(
        [
            '<div class="scroll"><table>',
            f"<caption>{esc(caption)}</caption>",
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table></div>",
        ]
    )


def _time(value: dt.datetime) -> str:
    text = esc(rfc3339(value))
    return f'<time datetime="{text}">{text}</time>'


def release_href(release: IndexedRelease) -> str:
    return f"{release.path}/{PAGE}"


def key_href(fingerprint: str, depth: int) -> str:
    """The signing key's public half on the mirror, from a page `depth` folders down."""
    return "../" * depth + KEY_PATH.format(fingerprint=fingerprint)


def _keys(fingerprints: Sequence[str], depth: int) -> str:
    items = "".join(
        f"<li><code>{esc(_spaced(f))}</code> ({_a(Link('public key', key_href(f, depth)))})</li>"
        for f in fingerprints
    )
    return f"<ul>{items}</ul>" if items else "<p>Not known.</p>"


def front_page(
    indexes: Sequence[ChannelIndex],
    snapshot_sha256: str,
    with_page: Collection[str] = (),
    fingerprints: Sequence[str] = (),
) -> str:
    """`index.html`: every channel with its release, serial, signing time and expiry.
    `with_page`: the release paths that have a release page (others are not linked)."""
    rows = []
    for index in sorted(indexes, key=lambda i: i.channel):
        current = index.current
        json_path = INDEX_PATH.format(channel=index.channel)
        catalogue = CATALOGUE_PATH.format(channel=index.channel)
        links = [Link("release", release_href(current))] if current.path in with_page else []
        links += [
            Link("index", json_path),
            Link("signature", json_path + SIGNATURE),
            Link("products", catalogue),
        ]
        rows.append(
            [
                esc(index.channel),
                _a(Link(current.image, f"{current.image}/{PAGE}")),
                esc(current.version),
                esc(index.serial),
                _time(index.issued),
                _time(index.expires),
                " · ".join(_a(link) for link in links),
            ]
        )
    headers = ("Channel", "Image", "Version", "Serial", "Signed at", "Expires", "Links")
    body = [
        "<p>Cloud VM images, checksummed and signed. Each channel names one release in a"
        " signed index; the snapshot lists the digest of every index.</p>",
        _table("Channels", headers, rows) if rows else "<p>No channel is published yet.</p>",
        "<h2>Verify a channel</h2>",
        "<p>With a keyring of only the keys you trust (the publisher's <code>keys/</code>):</p>",
        "<pre><code>release verify MIRROR_URL --channel CHANNEL --keys KEYS_DIR</code></pre>",
        f"<p>Snapshot: {_a(Link(SNAPSHOT_PATH, SNAPSHOT_PATH))}"
        f" ({_a(Link('signature', SNAPSHOT_PATH + SIGNATURE))}),"
        f" sha256 <code>{esc(snapshot_sha256)}</code>.</p>",
        "<h2>Signing key</h2>",
        "<p>Compare the fingerprint with the one the publisher gives you elsewhere.</p>",
        _keys(fingerprints, 0),
    ]
    return _page("Image mirror", body, meta=[snapshot_meta(snapshot_sha256)])


@dataclass(frozen=True)
class VersionRow:
    release: IndexedRelease
    channels: tuple[str, ...]  # channels whose current release this is


def history(image: str, indexes: Sequence[ChannelIndex]) -> list[VersionRow]:
    """Every version of `image` the indexes name (current or earlier), newest first."""
    seen: dict[str, IndexedRelease] = {}
    current: dict[str, list[str]] = {}
    for index in sorted(indexes, key=lambda i: i.channel):
        for release in (index.current, *index.history):
            if release.image == image:
                seen.setdefault(release.version, release)
        if index.current.image == image:
            current.setdefault(index.current.version, []).append(index.channel)
    ordered = sorted(seen, key=version_key, reverse=True)
    return [VersionRow(seen[v], tuple(current.get(v, ()))) for v in ordered]


def image_page(image: str, indexes: Sequence[ChannelIndex], with_page: Collection[str] = ()) -> str:
    """`<image>/index.html`: the image's versions, newest first, and where each is current."""
    rows = []
    for row in history(image, indexes):
        version = row.release.version
        linked = row.release.path in with_page
        rows.append(
            [
                _a(Link(version, f"{version}/{PAGE}")) if linked else esc(version),
                esc(", ".join(row.channels)) or "—",
                f"<code>{esc(row.release.manifest_sha256)}</code>",
            ]
        )
    body = [
        "<p>Every version of this image a channel names, newest first.</p>",
        _table("Versions", ("Version", "Current in", "manifest.json sha256"), rows),
    ]
    return _page(image, body, nav=(Link("mirror", f"../{PAGE}"),))


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _kind(record: FileRecord, manifest: Manifest) -> tuple[str, str]:
    if isinstance(record, Artifact):
        compressed = f" ({record.compression})" if record.compression else ""
        return record.variant, f"{record.format}{compressed}"
    for variant, name in manifest.sboms.items():
        if name == record.name:
            return variant, "SBOM (SPDX)"
    kind = classify(record.name, manifest.image, manifest.version, manifest.variants)
    return (kind.variant, "package list") if kind else ("", "")


def release_page(manifest: Manifest, fingerprints: Sequence[str]) -> str:
    """`<image>/<version>/index.html`: what a downstream user needs to fetch and verify."""
    rows = []
    for record in (*manifest.artifacts, *manifest.files):
        variant, kind = _kind(record, manifest)
        rows.append(
            [
                _a(Link(record.name, record.name)),
                esc(variant) or "—",
                esc(kind),
                f'<span title="{esc(record.size)} bytes">{esc(human_size(record.size))}</span>',
                f"<code>{esc(record.hexdigest('sha256'))}</code>",
            ]
        )
    signed = [MANIFEST, *CHECKSUM_FILES.values()]
    sig_rows = [[_a(Link(n, n)), _a(Link(n + SIGNATURE, n + SIGNATURE))] for n in signed]
    sboms = [[esc(v), _a(Link(name, name))] for v, name in sorted(manifest.sboms.items())]
    build = manifest.build
    body = [
        f"<p>Built {_time(build.time)} by {esc(build.builder)} from config commit"
        f" <code>{esc(manifest.commit)}</code>; variants {esc(', '.join(manifest.variants))}.</p>",
        "<h2>Files</h2>",
        _table("Files", ("File", "Variant", "Format", "Size", "sha256"), rows),
        "<h2>Signatures</h2>",
        _table("Signed files", ("File", "Detached signature"), sig_rows),
        "<h2>SBOM</h2>",
        _table("SPDX SBOMs", ("Variant", "SBOM"), sboms) if sboms else "<p>None.</p>",
        "<h2>Signing key</h2>",
        _keys(fingerprints, 2),
        "<h2>How to verify</h2>",
        "<p>With stock tools (EL6, EL7 or newer), after importing the publisher's public key"
        " into a keyring of its own, in the directory you downloaded:</p>",
        "<pre><code>" + esc(_stock(fingerprints)) + "</code></pre>",
        "<p>Or with <code>release verify</code>, against a keyring of only the keys you trust"
        " (MIRROR_URL is this mirror's address):</p>",
        "<pre><code>"
        + esc(f"release verify MIRROR_URL/{manifest.image}/{manifest.version}/ --keys KEYS_DIR")
        + "</code></pre>",
    ]
    nav = (Link("mirror", f"../../{PAGE}"), Link(manifest.image, f"../{PAGE}"))
    return _page(f"{manifest.image} {manifest.version}", body, nav)


def _spaced(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def _stock(fingerprints: Sequence[str]) -> str:
    key = f"{fingerprints[0]}.asc" if fingerprints else "PUBLISHER_KEY.asc"
    check = [f"gpg --fingerprint {f}" for f in fingerprints[:1]]
    return "\n".join(
        [
            "export GNUPGHOME=$(mktemp -d)",
            f"gpg --import {key}",
            *check,
            "gpg --verify sha256sum.txt.asc sha256sum.txt",
            "sha256sum -c --strict --ignore-missing sha256sum.txt",
            "gpg --verify manifest.json.asc manifest.json",
        ]
    )


def pages(
    indexes: Sequence[ChannelIndex],
    snapshot_sha256: str,
    with_page: Collection[str] = (),
    fingerprints: Sequence[str] = (),
) -> dict[str, str]:
    """The front page and a page per image, by path (release pages are written on their own,
    create-only, since a release never changes)."""
    names = sorted({r.image for i in indexes for r in (i.current, *i.history)})
    found = {PAGE: front_page(indexes, snapshot_sha256, with_page, fingerprints)}
    for image in names:
        found[f"{image}/{PAGE}"] = image_page(image, indexes, with_page)
    return found
