"""The stacks' guest agents that no EL repository carries, and the repository each comes from.

A variant that installs one without listing its repository cannot build (dnf finds no such
package): `release check` and `release build` say so first, naming the file and field.
Pure: reads an `ImageDefinition`.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.model.image import ImageDefinition

_GOOGLE = "https://packages.cloud.google.com/yum/repos/google-compute-engine-el{el}-x86_64-stable"


@dataclass(frozen=True)
class Agent:
    repo_marker: str  # a part of the baseurl of the repo (or of a mirror of it) that has it
    repo: str  # the repo's URL, for the hint
    els: tuple[int, ...]  # the EL majors the repo exists for


# Google's guest environment: packages.cloud.google.com has EL7 (and later) repos only; its
# EL6 packages were withdrawn.
AGENTS: dict[str, Agent] = {
    name: Agent("google-compute-engine-el{el}", _GOOGLE, (7,))
    for name in (
        "google-compute-engine",
        "google-compute-engine-oslogin",
        "google-guest-agent",
        "google-osconfig-agent",
        "python-google-compute-engine",
    )
}


@dataclass(frozen=True)
class MissingRepo:
    variant: str
    package: str
    index: int  # in the variant's `packages` when `at_variant`, else in the image's
    at_variant: bool
    message: str
    hint: str


def missing_repos(image: ImageDefinition, variant: str) -> list[MissingRepo]:
    """Each agent `variant` installs whose repository none of its sources is."""
    found: list[MissingRepo] = []
    baseurls = [source.baseurl for source in image.sources_for(variant)]
    own = image.variants[variant].packages
    for at_variant, packages in ((False, image.packages), (True, own)):
        for index, package in enumerate(packages):
            agent = AGENTS.get(package)
            if agent is None:
                continue
            marker = agent.repo_marker.format(el=image.el)
            if image.el in agent.els and any(marker in url for url in baseurls):
                continue
            found.append(_missing(image, variant, package, index, at_variant, agent))
    return found


def _missing(
    image: ImageDefinition, variant: str, package: str, index: int, at_variant: bool, agent: Agent
) -> MissingRepo:
    where = f"variants.{variant}.sources" if at_variant else "sources"
    if image.el not in agent.els:
        message = (
            f"variant {variant}: {package} comes from a repository that has no EL{image.el}"
            " packages, so this variant cannot be built"
        )
        hint = (
            f"drop {package} from the packages (cloud-init reads the stack's metadata itself),"
            f" or list a repository of your own that has an EL{image.el} build under {where}"
        )
    else:
        repo = agent.repo.format(el=image.el)
        message = (
            f"variant {variant}: {package} comes from a repository the variant does not list"
            " (no EL repository has it), so dnf would not find it"
        )
        hint = f"add its repository ({repo}, or a mirror of it) under {where}"
    return MissingRepo(variant, package, index, at_variant, message, hint)
