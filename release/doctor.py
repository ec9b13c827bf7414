"""`release doctor`: which external tools the configured pipeline needs, and which are here."""

from __future__ import annotations

from dataclasses import dataclass

from release import runner, tools
from release.config.loader import ConfigRepo


@dataclass(frozen=True)
class ToolStatus:
    tool: tools.Tool
    stages: tuple[str, ...]
    path: str | None
    version: str | None
    required: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.tool.name,
            "purpose": self.tool.purpose,
            "stages": list(self.stages),
            "found": self.path is not None,
            "path": self.path,
            "version": self.version,
            "required": self.required,
            "debian_package": self.tool.debian,
            "fedora_package": self.tool.fedora,
        }


def needed_stages(config: ConfigRepo | None) -> set[str]:
    """The pipeline stages this config uses; every stage when there is no config."""
    every = {tools.CORE, tools.BUILD, tools.CONVERT, tools.SIGN, tools.PUBLISH_RSYNC}
    if config is None or not config.images:
        return every
    stages = {tools.CORE, tools.SIGN}
    images = [loaded.value for loaded in config.images.values()]
    if any(image.builder == "installroot" for image in images):
        stages.add(tools.BUILD)
    if any(image.formats for image in images):
        stages.add(tools.CONVERT)
    if any(target.type == "rsync" for target in config.targets.values()):
        stages.add(tools.PUBLISH_RSYNC)
    return stages


def needed_installers(config: ConfigRepo | None) -> set[str]:
    """The tools of the kickstart installers (qemu, livemedia-creator, koji) the images name."""
    if config is None:
        return set()
    named = {
        loaded.value.installer
        for loaded in config.images.values()
        if loaded.value.builder == "kickstart"
    }
    qemu = {"mkfs.vfat", "mcopy", "xorriso"} if "qemu" in named else set()
    return (named - {"qemu"}) | qemu


def doctor(config: ConfigRepo | None) -> list[ToolStatus]:
    stages = needed_stages(config)
    installers = needed_installers(config)
    every_stage = stages | {tools.BOOT_TEST, tools.BUILD_KICKSTART}
    report = []
    for tool in tools.tools_for(every_stage):
        tool_stages = tools.stages_of(tool)
        if tools.BUILD_KICKSTART in tool_stages and tool.name not in installers:
            continue  # only the installers the definitions name
        command = next((c for c in tool.commands() if runner.which(c)), tool.name)
        report.append(
            ToolStatus(
                tool=tool,
                stages=tool_stages,
                path=runner.which(command),
                version=runner.version(command, tool.version_argv),
                required=bool(stages.intersection(tool_stages)) or tool.name in installers,
            )
        )
    return report
