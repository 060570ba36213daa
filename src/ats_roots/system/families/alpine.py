"""Alpine: /usr/local/share/ca-certificates + update-ca-certificates (full
ca-certificates only; the bundle-only package falls through to notool)."""

from ats_roots.system import layout
from ats_roots.system.families._anchors import AnchorFamily


class Alpine(AnchorFamily):
    layout = layout.ALPINE
