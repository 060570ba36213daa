"""RHEL and its kin: /etc/pki/ca-trust/source/anchors + update-ca-trust extract."""

from ats_roots.system.families._anchors import AnchorFamily


class Rhel(AnchorFamily):
    name = "rhel"
    ids = ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn")
    anchor_dir = "/etc/pki/ca-trust/source/anchors"
    suffix = ".pem"
    tools = ("/usr/bin/update-ca-trust", "/usr/sbin/update-ca-trust")
    # Never `force-enable`: obsolete since EL7 and rejected on EL10.
    tool_args = ("extract",)
    bundles = (
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/pki/tls/certs/ca-bundle.crt",
    )
    openssl_dir = "/etc/pki/tls"
