"""The distro family of a root and where its OpenSSL looks, decided from
files alone: audit never runs anything from the image."""

from __future__ import annotations

from dataclasses import dataclass

from ats_roots._portable import os_ids
from ats_roots.errors import BadInput
from ats_roots.system.families import Family as FamilyImpl
from ats_roots.system.families import NoTool, detect
from ats_roots.system.target import Target


@dataclass
class Family:
    impl: FamilyImpl  # the system family (Debian(), NoTool(...), ...)
    name: str
    openssl_dir: str
    bundles: list[str]  # what the family's tool compiles (or NoTool writes)
    tool: str | None  # the CA tool inside the root, if the family has one there
    why: str = ""


def family_of(target: Target) -> Family:
    try:
        ids = os_ids(target.os_release())
    except BadInput:
        ids = None
    try:
        fam = detect(target)
    except BadInput:  # no os-release (FROM scratch), or a distro ats does not know
        fam = NoTool(why="no /etc/os-release" if ids is None else f"unknown distribution {ids}")
    paths = fam.openssl(target)
    why = getattr(fam, "why", "")
    return Family(fam, fam.name, paths.openssl_dir, fam.store_files(target), fam.tool(target), why)
