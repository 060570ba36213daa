"""Alpine: /usr/local/share/ca-certificates + update-ca-certificates.

Only the full ca-certificates package has the tool; ca-certificates-bundle
alone (the default in alpine images) falls through to the no-tool family.
"""

from ats_roots.system.families._anchors import AnchorFamily


class Alpine(AnchorFamily):
    name = "alpine"
    ids = ("alpine",)
    anchor_dir = "/usr/local/share/ca-certificates"
    suffix = ".crt"
    tools = ("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates")
    bundles = ("/etc/ssl/certs/ca-certificates.crt",)
    openssl_dir = "/etc/ssl"
