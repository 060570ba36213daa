"""Trust-store families: one small module each, one shape
(detect, plan, apply, verify, uninstall); `detect` picks one for a target."""

from __future__ import annotations

from .. import _portable
from ..errors import BadInput
from ._base import Cert, Plan, Target, apply
from .alpine import Alpine
from .arch import Arch
from .debian import Debian
from .macos import MacOS
from .notool import NoTool
from .rhel import Rhel
from .suse import Suse
from .windows import Windows

TOOL_FAMILIES = (Debian(), Rhel(), Alpine(), Suse(), Arch())
NAMES = ("debian", "rhel", "alpine", "suse", "arch", "notool", "macos", "windows")

__all__ = ["Cert", "Plan", "Target", "apply", "detect", "NAMES"]


def detect(target: Target, family: str | None = None):
    """The family for target: forced by name, else by os-release and tools."""
    for platform_family in (MacOS(), Windows()):
        if family in (None, platform_family.name) and platform_family.detect(target, []):
            return platform_family
    if family == "notool":
        return NoTool(why="chosen with --family notool")
    if family in ("macos", "windows"):
        raise BadInput(f"--family {family} only acts on this system, and it is not {family}")
    ids = _portable.os_ids(target.os_release()) if family is None else []
    for fam in TOOL_FAMILIES:
        if family == fam.name or (family is None and fam.detect(target, ids)):
            return fam
    known = [fam for fam in TOOL_FAMILIES if fam.matches(ids)]
    if known:
        tool = known[0].tools[0]
        return NoTool(known[0].openssl_dir, why=f"{known[0].name} without {tool}")
    if family is None:
        raise BadInput(
            f"unknown distribution {ids or ['(no ID)']} in {target.root}; "
            "pass --family (debian, rhel, alpine, suse, arch, notool)"
        )
    raise BadInput(f"unknown family {family!r}; choose one of {', '.join(NAMES)}")
