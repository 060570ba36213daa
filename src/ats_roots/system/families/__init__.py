"""Trust-store families: one small module each, all behind one declared
interface (_interface.Family); `detect` picks the one for a target."""

from __future__ import annotations

from ats_roots import _portable
from ats_roots.errors import BadInput
from ats_roots.system import _core
from ats_roots.system.families._interface import Family
from ats_roots.system.families.alpine import Alpine
from ats_roots.system.families.arch import Arch
from ats_roots.system.families.debian import Debian
from ats_roots.system.families.macos import MacOS
from ats_roots.system.families.notool import NoTool
from ats_roots.system.families.rhel import Rhel
from ats_roots.system.families.suse import Suse
from ats_roots.system.families.windows import Windows
from ats_roots.system.target import Target

TOOL_FAMILIES = (Debian(), Rhel(), Alpine(), Suse(), Arch())
PLATFORM_FAMILIES = (MacOS(), Windows())
NAMES = ("debian", "rhel", "alpine", "suse", "arch", "notool", "macos", "windows")

__all__ = ["Family", "NAMES", "TOOL_FAMILIES", "PLATFORM_FAMILIES", "NoTool", "detect"]


def detect(target: Target, family: str | None = None) -> Family:
    """The family for target: forced by name, else by os-release and tools."""
    for platform_family in PLATFORM_FAMILIES:
        if family in (None, platform_family.name) and platform_family.detect(target, []):
            return platform_family
    if family == "notool":
        return NoTool(why="chosen with --family notool")
    if family in ("macos", "windows"):
        raise BadInput(f"--family {family} only acts on this system, and it is not {family}")
    for fam in TOOL_FAMILIES:
        if family == fam.name:
            return fam
    if family is None:  # the install core's detection, as the hook's
        ids = _portable.os_ids(target.os_release())
        layouts = [fam.layout._asdict() for fam in TOOL_FAMILIES]
        lay, tool = _core.detect_family(layouts, target, ids)
        if tool:
            return next(fam for fam in TOOL_FAMILIES if fam.name == lay["name"])
        if lay:
            return NoTool(lay["openssl_dir"], why=f"{lay['name']} without {lay['tools'][0]}")
        ids = ids or ["(no ID)"]
        raise BadInput(
            f"unknown distribution {ids} in {target.root}; "
            "pass --family (debian, rhel, alpine, suse, arch, notool)"
        )
    raise BadInput(f"unknown family {family!r}; choose one of {', '.join(NAMES)}")
