"""SUSE: /etc/pki/trust/anchors + update-ca-certificates (p11-kit based)."""

from ats_roots.system import layout
from ats_roots.system.families._anchors import AnchorFamily


class Suse(AnchorFamily):
    layout = layout.SUSE
