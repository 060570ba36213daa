"""Arch and other p11-kit systems: trust-source/anchors + trust extract-compat."""

from ats_roots.system import layout
from ats_roots.system.families._anchors import AnchorFamily


class Arch(AnchorFamily):
    layout = layout.ARCH
