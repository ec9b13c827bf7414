"""`release check`: the shipped config passes; each broken config fails with its precise message.

Every case starts from a copy of the config this project ships and breaks one thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from release.cli import cli
from release.config.check import check
from release.errors import Problem
from release.integrity.keyinfo import read_key_bytes
from tests.conftest import GpgKey, git

C7 = "images/centos-7-genericcloud.yaml"
C6 = "images/centos-6-genericcloud.yaml"


def replace(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        text = (repo / path).read_text()
        assert old in text, f"{old!r} not in {path}"
        (repo / path).write_text(text.replace(old, new, 1))

    return edit


def both(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        for each in edits:
            each(repo)

    return edit


def write(path: str, text: str) -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        (repo / path).write_text(text)

    return edit


@dataclass(frozen=True)
class Case:
    id: str
    edit: Callable[[Path], None]
    file: str
    message: str
    line: int | None = None
    field: str | None = None
    hint: str | None = None


CASES = [
    Case("malformed-yaml", replace(C7, "el: 7\n", "el: [7\n"), C7, "malformed YAML", line=9),
    Case("unknown-key", replace(C7, "packages:\n  - \"@core\"", "pakages:\n  - \"@core\""), C7,
         "unknown key 'pakages'", line=25, field="pakages", hint="did you mean 'packages'?"),
    Case("unknown-nested-key", replace(C7, "  selinux: enforcing", "  selinx: enforcing"), C7,
         "unknown key 'selinx'", field="template.selinx", hint="did you mean 'selinux'?"),
    Case("wrong-type", replace(C7, "el: 7\n", "el: seven\n"), C7, "Input should be 6 or 7",
         line=8, field="el"),
    Case("unsupported-el", replace(C7, "el: 7\n", "el: 8\n"), C7, "Input should be 6 or 7"),
    Case("unsupported-arch", replace(C7, "arch: x86_64", "arch: ppc64le"), C7,
         "Input should be 'x86_64' or 'aarch64'", field="arch"),
    Case("bad-unit", replace(C7, "size: 8GiB", "size: 8 gigs"), C7, "'8 gigs' is not a size",
         field="disk.size"),
    Case("decimal-unit", replace(C7, "size: 8GiB", "size: 8GB"), C7, "write 8GiB",
         field="disk.size"),
    Case("unquoted-version", replace(C7, 'version: "7.9.2009.2"', "version: 7.10"), C7,
         "valid string", field="version", hint="quote it"),
    Case("name-with-separator", replace(C7, "name: centos-7-genericcloud", "name: ../centos"),
         C7, "contains a path separator", field="name"),
    Case("name-with-space", replace(C7, "name: centos-7-genericcloud", "name: centos 7"), C7,
         "contains whitespace", field="name"),
    Case("name-with-control", replace(C7, "name: centos-7-genericcloud", 'name: "centos\\t7"'),
         C7, "contains whitespace", field="name"),
    Case("file-name-with-space", write("images/bad name.yaml", "name: x\n"),
         "images/bad name.yaml", "file name contains whitespace"),
    Case("duplicate-image", write("images/copy.yaml",
         (Path(__file__).parents[2] / C7).read_text()), "images/copy.yaml",
         "duplicate image name 'centos-7-genericcloud'", hint="also in " + C7),
    Case("duplicate-channel", write("channels/el7-stable.yml",
         "image: centos-7-genericcloud\nversion: latest\n"), "channels/el7-stable.yml",
         "duplicate channel 'el7-stable'"),
    Case("channel-name-mismatch", replace("channels/el7-stable.yaml", "description:",
         "name: el7-other\ndescription:"), "channels/el7-stable.yaml",
         "does not match its file name"),
    Case("unknown-image", replace("channels/el7-stable.yaml", "image: centos-7-genericcloud",
         "image: centos-7-genericclod"), "channels/el7-stable.yaml",
         "unknown image 'centos-7-genericclod'", hint="did you mean 'centos-7-genericcloud'?"),
    Case("unknown-version", replace("channels/el7-stable.yaml", 'version: "7.9.2009.2"',
         'version: "7.9.2009.9"'), "channels/el7-stable.yaml",
         "image 'centos-7-genericcloud' has no version '7.9.2009.9'", field="version"),
    Case("unknown-target", replace("channels/el7-stable.yaml", "targets: [local]",
         "targets: [locl]"), "channels/el7-stable.yaml", "unknown target 'locl'",
         field="targets[0]", hint="did you mean 'local'?"),
    Case("unknown-signing-key", replace("channels/el7-stable.yaml", "targets: [local]",
         "targets: [local]\nkeys: [release-2099]"), "channels/el7-stable.yaml",
         "unknown key 'release-2099'", field="keys[0]"),
    Case("neither-version-nor-follow", replace("channels/el7-stable.yaml",
         'version: "7.9.2009.2"\n', ""), "channels/el7-stable.yaml", "give exactly one of"),
    Case("follow-cycle", both(
         write("channels/el7-stable.yaml", "image: centos-7-genericcloud\nfollow: el7-testing\n"),
         write("channels/el7-testing.yaml", "image: centos-7-genericcloud\nfollow: el7-stable\n")),
         "channels/el7-testing.yaml",
         "follow in a cycle: el7-testing -> el7-stable -> el7-testing"),
    Case("format-target-cannot-take", both(
         replace(C7, "formats: [qcow2, raw, vhd, ova, gce]", "formats: [qcow2, raw, vhd, ova]"),
         write("targets/gce.yaml", "type: gce-image\nproject: p\nbucket: b\n"),
         replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local, gce]")),
         "channels/el7-stable.yaml",
         "takes only gce, but image 'centos-7-genericcloud' variant gce produces qcow2"),
    Case("cloudstack-unknown-mirror", write("targets/cs.yaml", "type: cloudstack-template\n"
         "endpoint: https://cs.example/client/api\nmirror: locl\npublic_url: https://m.example\n"
         "zones: [z1]\n"), "targets/cs.yaml", "unknown target 'locl'", line=3, field="mirror",
         hint="did you mean 'local'?"),
    Case("cloudstack-mirror-is-a-registry", both(
         write("targets/gce.yaml", "type: gce-image\nproject: p\nbucket: b\n"),
         write("targets/cs.yaml", "type: cloudstack-template\nendpoint: https://cs.example/api\n"
               "mirror: gce\npublic_url: https://m.example\nzones: [z1]\n")),
         "targets/cs.yaml", "target 'gce' is a gce-image registry, not a mirror", field="mirror"),
    Case("cloudstack-url-not-http", write("targets/cs.yaml", "type: cloudstack-template\n"
         "endpoint: https://cs.example/api\nmirror: local\npublic_url: /srv/mirror\n"
         "zones: [z1]\n"), "targets/cs.yaml", "'/srv/mirror' is not an http(s):// URL",
         field="public_url"),
    Case("cloudstack-needs-qcow2", both(
         replace(C7, "formats: [qcow2, raw, vhd, ova, gce]", "formats: [raw, vhd, ova, gce]"),
         write("targets/cs.yaml", "type: cloudstack-template\nendpoint: https://cs.example/api\n"
               "mirror: local\npublic_url: https://m.example\nzones: [z1]\n"),
         replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local, cs]")),
         "channels/el7-stable.yaml",
         "takes only qcow2, but image 'centos-7-genericcloud' variant cloudstack produces raw"),
    Case("azure-unknown-variant", both(
         write("targets/az.yaml", "type: azure-image\naccount_url: https://st.example\n"
               "container: c\nsubscription_id: s\nresource_group: r\nlocation: westeurope\n"
               "variant: azur\n"),
         replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local, az]")),
         "channels/el7-stable.yaml", "takes variant 'azur', but image 'centos-7-genericcloud'"
         " has no such variant", field="targets[1]"),
    Case("unknown-target-type", write("targets/ftp.yaml", "type: ftp\nurl: ftp://x\n"),
         "targets/ftp.yaml", "unknown target type 'ftp'", field="type"),
    Case("target-missing-field", write("targets/bucket.yaml", "type: s3\n"),
         "targets/bucket.yaml", "missing required key 'bucket'", field="bucket"),
    Case("virt-install-gone", replace(C7, "el: 7\n", "el: 7\nbuilder: kickstart\n"
         "installer: virt-install\n"), C7, "virt-install is no longer supported",
         field="installer"),
    Case("relative-install-tree", replace(C7, "el: 7\n", "el: 7\ninstall_tree: dvd.iso\n"),
         C7, "absolute path to an install tree", field="install_tree"),
    Case("contradiction-swap", replace(C7, "  tso_gso_off: false", "  swap: true"), C7,
         "swap: true contradicts growroot: true", field="template.swap"),
    Case("contradiction-relabel", replace(C7, "  selinux: enforcing\n  relabel: build",
         "  selinux: disabled\n  relabel: first-boot"), C7, "relabel: first-boot does nothing"),
    Case("agent-repo-not-listed", replace(C7, "    sources:\n      - name: google-compute-engine\n"
         "        baseurl: https://packages.cloud.google.com/yum/repos/google-compute-engine-el7-"
         "x86_64-stable\n        gpgkey: https://packages.cloud.google.com/yum/doc/yum-key.gpg\n",
         ""), C7,
         "variant gce: google-compute-engine comes from a repository the variant does not list",
         field="variants.gce.packages[0]", hint="add its repository (https://packages.cloud"),
    Case("agent-without-el6-repo", replace(C6, "  gce: {}", "  gce:\n    packages: [google-"
         "compute-engine]"), C6, "google-compute-engine comes from a repository that has no EL6",
         line=59, field="variants.gce.packages[0]", hint="drop google-compute-engine"),
    Case("firmware-excluded", replace(C7, "exclude:\n  - NetworkManager*", "exclude:\n  - "
         "NetworkManager*\n  - \"*-firmware\""), C7, "'*-firmware' excludes linux-firmware, which "
         "EL7's kernel requires", field="exclude[1]", hint="erases every *-firmware package"),
    Case("variant-not-a-stack", replace(C7, "  aws: {}", "  azure: {}"), C7,
         "variant 'azure' is not a cloud stack name"),
    Case("symlink-definition", lambda repo: (repo / "images/link.yaml").symlink_to("/etc/passwd"),
         "images/link.yaml", "is a symbolic link"),
    Case("garbage-key-file", write("keys/release.asc", "not a key\n"), "keys/release.asc",
         "is not an ASCII-armored OpenPGP public key"),
    Case("not-a-mapping", write(C7, "- just\n- a list\n"), C7, "must be a YAML mapping"),
]  # fmt: skip


def problem_for(problems: list[Problem], case: Case) -> Problem:
    matching = [p for p in problems if p.file == case.file and case.message in p.message]
    assert matching, f"no problem with {case.message!r} in {case.file}: {problems}"
    return matching[0]


def test_shipped_config_is_valid() -> None:
    report = check(str(Path(__file__).parents[2]), keys=read_key_bytes)
    assert report.ok, report.problems
    assert report.images == 2 and report.channels == 4


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_is_reported(config_repo: Path, case: Case) -> None:
    case.edit(config_repo)
    report = check(str(config_repo), keys=read_key_bytes)
    problem = problem_for(report.problems, case)
    if case.line is not None:
        assert problem.line == case.line
    if case.field is not None:
        assert problem.field == case.field
    if case.hint is not None:
        assert problem.hint is not None and case.hint in problem.hint


def test_every_problem_is_reported_at_once(config_repo: Path) -> None:
    chosen = {"unknown-nested-key", "unknown-target", "bad-unit", "garbage-key-file"}
    for case in CASES:
        if case.id in chosen:
            case.edit(config_repo)
    messages = [p.message for p in check(str(config_repo), keys=read_key_bytes).problems]
    assert "unknown key 'selinx'" in messages
    assert "unknown target 'locl'" in messages
    assert any("is not a size" in m for m in messages)
    assert any("not an ASCII-armored" in m for m in messages)


def test_private_key_is_a_loud_error(config_repo: Path, rsa_key: GpgKey) -> None:
    (config_repo / "keys/oops.asc").write_bytes(rsa_key.secret)
    problem = problem_for(
        check(str(config_repo), keys=read_key_bytes).problems,
        Case("", write("", ""), "keys/oops.asc", "is a PRIVATE key: never commit a private key"),
    )
    assert problem.hint and "revoke" in problem.hint


def trust(fpr: str, channels: str = '["el7-*"]') -> str:
    return f"keys:\n  rel:\n    file: rel.asc\n    fingerprint: {fpr}\n    channels: {channels}\n"


def test_trusted_key_allows_its_channels(config_repo: Path, rsa_key: GpgKey) -> None:
    (config_repo / "keys/rel.asc").write_bytes(rsa_key.public)
    (config_repo / "keys/trust.yaml").write_text(trust(rsa_key.fingerprint))
    replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local]\nkeys: [rel]")(
        config_repo
    )
    report = check(str(config_repo), keys=read_key_bytes)
    assert report.ok, report.problems
    assert [w for w in report.warnings if "el6-stable, el6-testing" in w.message]


def test_key_not_allowed_for_channel(config_repo: Path, rsa_key: GpgKey) -> None:
    (config_repo / "keys/rel.asc").write_bytes(rsa_key.public)
    (config_repo / "keys/trust.yaml").write_text(trust(rsa_key.fingerprint))
    replace("channels/el6-stable.yaml", "targets: [local]", "targets: [local]\nkeys: [rel]")(
        config_repo
    )
    problem_for(
        check(str(config_repo), keys=read_key_bytes).problems,
        Case("", write("", ""), "channels/el6-stable.yaml",
             "key 'rel' may not sign channel 'el6-stable'"),
    )  # fmt: skip


def test_a_revoked_key_may_sign_no_channel(config_repo: Path, rsa_key: GpgKey) -> None:
    (config_repo / "keys/rel.asc").write_bytes(rsa_key.public)
    revoked = "    revoked:\n      date: 2026-12-01\n      reason: laptop stolen\n"
    (config_repo / "keys/trust.yaml").write_text(trust(rsa_key.fingerprint) + revoked)
    replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local]\nkeys: [rel]")(
        config_repo
    )
    report = check(str(config_repo), keys=read_key_bytes)
    problem_for(
        report.problems,
        Case("", write("", ""), "channels/el7-stable.yaml",
             "key 'rel' may not sign channel 'el7-stable' by keys/trust.yaml: revoked on"
             " 2026-12-01 (laptop stolen)"),
    )  # fmt: skip


def test_a_revoked_key_listed_again_under_another_name_may_sign_nothing(
    config_repo: Path, rsa_key: GpgKey
) -> None:
    (config_repo / "keys/rel.asc").write_bytes(rsa_key.public)
    revoked = "    revoked:\n      date: 2026-12-01\n      reason: laptop stolen\n"
    copy = f"  copy:\n    file: rel.asc\n    fingerprint: {rsa_key.fingerprint}\n"
    (config_repo / "keys/trust.yaml").write_text(trust(rsa_key.fingerprint) + revoked + copy)
    replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local]\nkeys: [copy]")(
        config_repo
    )
    problem_for(
        check(str(config_repo), keys=read_key_bytes).problems,
        Case("", write("", ""), "channels/el7-stable.yaml",
             "key 'copy' may not sign channel 'el7-stable' by keys/trust.yaml: key 'rel' is"
             " revoked on 2026-12-01 (laptop stolen)"),
    )  # fmt: skip


def test_a_revocation_needs_a_reason(config_repo: Path, rsa_key: GpgKey) -> None:
    (config_repo / "keys/rel.asc").write_bytes(rsa_key.public)
    revoked = "    revoked: {date: 2026-12-01}\n"
    (config_repo / "keys/trust.yaml").write_text(trust(rsa_key.fingerprint) + revoked)
    problem = problem_for(
        check(str(config_repo), keys=read_key_bytes).problems,
        Case("", write("", ""), "keys/trust.yaml", "missing required key 'reason'"),
    )
    assert (problem.field, problem.line) == ("keys.rel.revoked.reason", 6)


def test_fingerprint_must_match_key_file(config_repo: Path, rsa_key: GpgKey) -> None:
    (config_repo / "keys/rel.asc").write_bytes(rsa_key.public)
    (config_repo / "keys/trust.yaml").write_text(trust("AB" * 20))
    problem = problem_for(
        check(str(config_repo), keys=read_key_bytes).problems,
        Case("", write("", ""), "keys/trust.yaml", f"fingerprint {'AB' * 20} is not the key"),
    )
    assert problem.line == 4 and problem.field == "keys.rel.fingerprint"


def test_version_going_backwards_against_base(config_repo: Path) -> None:
    replace(C7, 'version: "7.9.2009.2"', 'version: "7.9.2009.0"')(config_repo)
    replace("channels/el7-stable.yaml", 'version: "7.9.2009.2"', "version: latest")(config_repo)
    report = check(str(config_repo), keys=read_key_bytes, base="HEAD")
    problem = problem_for(
        report.problems,
        Case("", write("", ""), C7, "version goes backwards: 7.9.2009.0 < 7.9.2009.2"),
    )
    assert problem.line == 5


def test_changed_definition_needs_a_version_bump(config_repo: Path) -> None:
    replace(C7, "size: 8GiB", "size: 10GiB")(config_repo)
    report = check(str(config_repo), keys=read_key_bytes, base="HEAD")
    problem_for(report.problems, Case("", write("", ""), C7, "changed but its version is still"))


def test_version_bump_passes_and_old_version_stays_pinnable(config_repo: Path) -> None:
    replace(C7, 'version: "7.9.2009.2"', 'version: "7.9.2009.3"')(config_repo)
    git(config_repo, "commit", "-qam", "bump")
    report = check(str(config_repo), keys=read_key_bytes, base="HEAD~1")
    # el7-stable still pins 7.9.2009.2, which the history of the definition holds.
    assert report.ok, report.problems


def test_check_a_revision_without_checkout(config_repo: Path) -> None:
    replace(C7, "el: 7\n", "el: 9\n")(config_repo)
    git(config_repo, "commit", "-qam", "break it")
    assert not check(str(config_repo), keys=read_key_bytes, rev="HEAD").ok
    assert check(str(config_repo), keys=read_key_bytes, rev="HEAD~1").ok


def test_check_a_remote_url(config_repo: Path) -> None:
    assert check(f"file://{config_repo}", keys=read_key_bytes).ok


def test_cli_exit_codes_and_json(config_repo: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", "--repo", str(config_repo)])
    assert ok.exit_code == 0 and "ok: 2 images, 4 channels" in ok.output
    CASES[1].edit(config_repo)
    bad = runner.invoke(cli, ["check", "--repo", str(config_repo), "--json"])
    data = json.loads(bad.stdout)
    assert data["ok"] is False
    unknown = [p for p in data["problems"] if p["message"] == "unknown key 'pakages'"]
    assert unknown[0]["file"] == C7 and unknown[0]["line"] == 25


def test_bad_revision_is_a_clear_error(config_repo: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["check", "--repo", str(config_repo), "--rev", "nope"])
    assert result.exit_code != 0
    assert "'nope' is not a revision" in str(result.exception)


def test_one_bad_source_of_a_single_source_list_is_one_problem(config_repo: Path) -> None:
    """pydantic also says the list is too short (it counts only valid items): not a second
    problem for the user to chase."""
    path = config_repo / C7
    text = path.read_text()
    start, end = text.index("sources:\n"), text.index("\npackages:")
    only = "sources:\n  - name: base\n    baseurl: ftp://vault.centos.org/7.9.2009/os/x86_64/\n"
    path.write_text(text[:start] + only + text[end:])
    problems = [p for p in check(str(config_repo), keys=read_key_bytes).problems if p.file == C7]
    assert [(p.field, p.message) for p in problems] == [
        ("sources[0].baseurl", "'ftp://vault.centos.org/7.9.2009/os/x86_64/' is not an http(s)://"
         " or file:/// URL"),
    ]  # fmt: skip
