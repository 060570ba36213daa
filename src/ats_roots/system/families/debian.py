"""Debian and Ubuntu: /usr/local/share/ca-certificates + update-ca-certificates."""

from ats_roots.system.families._anchors import AnchorFamily


class Debian(AnchorFamily):
    name = "debian"
    ids = ("debian", "ubuntu")
    anchor_dir = "/usr/local/share/ca-certificates"
    suffix = ".crt"  # update-ca-certificates ignores any other ending
    tools = ("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates")
    # Without --fresh the links in /etc/ssl/certs to removed anchors stay behind.
    uninstall_args = ("--fresh",)
    bundles = ("/etc/ssl/certs/ca-certificates.crt",)
    openssl_dir = "/usr/lib/ssl"
