"""`release check` on openstack-glance targets: each problem names its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.config.check import check
from release.integrity.keyinfo import read_key_bytes
from tests.config.test_check import C7, Case, both, problem_for, replace, write

GLANCE = "type: openstack-glance\ncloud: lab\n"
USE_IT = replace("channels/el7-stable.yaml", "targets: [local]", "targets: [local, glance]")
CASES = [
    Case("glance-needs-qcow2-or-raw", both(
         replace(C7, "  openstack: {}", "  openstack: {formats: [vhd]}"),
         write("targets/glance.yaml", GLANCE), USE_IT),
         "channels/el7-stable.yaml",
         "takes only qcow2 or raw, but image 'centos-7-genericcloud' variant openstack produces"
         " vhd", field="targets[1]"),
    Case("glance-needs-an-openstack-variant", both(
         replace(C7, "  openstack: {}\n", ""), write("targets/glance.yaml", GLANCE), USE_IT),
         "channels/el7-stable.yaml", "needs a openstack variant", field="targets[1]"),
    Case("glance-shared-without-projects",
         write("targets/glance.yaml", f"{GLANCE}visibility: shared\n"), "targets/glance.yaml",
         "visibility: shared needs share_with"),
    Case("glance-web-download-without-mirror",
         write("targets/glance.yaml", f"{GLANCE}import_method: web-download\n"),
         "targets/glance.yaml", "web-download needs mirror_url"),
    Case("glance-unknown-rollback", write("targets/glance.yaml", f"{GLANCE}rollback: delete\n"),
         "targets/glance.yaml", "should be 'hide' or 'deactivate'", line=3, field="rollback"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_glance_config_is_reported(config_repo: Path, case: Case) -> None:
    case.edit(config_repo)
    report = check(str(config_repo), keys=read_key_bytes)
    problem = problem_for(report.problems, case)
    if case.field is not None:
        assert problem.field == case.field
    if case.line is not None:
        assert problem.line == case.line


def test_a_good_glance_target_passes(config_repo: Path) -> None:
    write("targets/glance.yaml", f"{GLANCE}visibility: shared\nshare_with: [p1, p2]\n")(config_repo)
    USE_IT(config_repo)
    report = check(str(config_repo), keys=read_key_bytes)
    assert report.ok, report.problems
