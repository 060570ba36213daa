"""Arch and other p11-kit systems: trust-source/anchors + trust extract-compat."""

from ats_roots.system.families._anchors import AnchorFamily


class Arch(AnchorFamily):
    name = "arch"
    ids = ("arch", "archarm", "manjaro", "endeavouros", "artix")
    anchor_dir = "/etc/ca-certificates/trust-source/anchors"
    suffix = ".crt"
    tools = ("/usr/bin/trust",)
    tool_args = ("extract-compat",)
    bundles = ("/etc/ca-certificates/extracted/tls-ca-bundle.pem",)
    openssl_dir = "/etc/ssl"

    def detect(self, target, os_ids):
        # Any distro laid out the p11-kit way counts, whatever its ID says.
        p11_layout = target.exists("/etc/ca-certificates/trust-source")
        return (self.matches(os_ids) or p11_layout) and self.tool(target) is not None
