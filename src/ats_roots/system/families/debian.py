"""Debian and Ubuntu: /usr/local/share/ca-certificates + update-ca-certificates."""

from ats_roots.system import layout
from ats_roots.system.families._anchors import AnchorFamily


class Debian(AnchorFamily):
    layout = layout.DEBIAN
