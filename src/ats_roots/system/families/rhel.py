"""RHEL and its kin: /etc/pki/ca-trust/source/anchors + update-ca-trust extract."""

from ats_roots.system import layout
from ats_roots.system.families._anchors import AnchorFamily


class Rhel(AnchorFamily):
    layout = layout.RHEL
