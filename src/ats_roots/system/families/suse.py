"""SUSE: /etc/pki/trust/anchors + update-ca-certificates (p11-kit based)."""

from ats_roots.system.families._anchors import AnchorFamily


class Suse(AnchorFamily):
    name = "suse"
    ids = ("suse", "opensuse", "sles", "sled", "opensuse-leap", "opensuse-tumbleweed")
    anchor_dir = "/etc/pki/trust/anchors"
    suffix = ".pem"
    tools = ("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates")
    bundles = ("/var/lib/ca-certificates/ca-bundle.pem", "/etc/ssl/ca-bundle.pem")
    openssl_dir = "/etc/ssl"
