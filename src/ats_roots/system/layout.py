"""Where Linux trust stores live: the one list of paths that the families,
`ats audit` and the hook generator (scripts/gen-hook) all read.

Pure data, standard library only: a path added here reaches install, verify,
audit and the hook at once.
"""

from __future__ import annotations

from collections import namedtuple

# collections.namedtuple, not a dataclass or typing.NamedTuple: `dataclasses`
# (with inspect) and `typing` are each milliseconds of every start, and these
# are plain immutable records.
_FIELDS = "name ids anchor_dir suffix tools tool_args uninstall_args bundles openssl_dir marker"


class FamilyLayout(namedtuple("FamilyLayout", _FIELDS, defaults=(None,))):
    # ids: os-release ID / ID_LIKE values
    # anchor_dir: where the family's tool reads anchors from
    # suffix: the ending its tool accepts
    # tools: where the tool may live inside the target
    # tool_args: arguments after the tool's path
    # uninstall_args: more of them when anchors were removed
    # bundles: what the tool compiles
    # openssl_dir: the OPENSSLDIR its OpenSSL package is built with
    # marker: a directory whose presence marks the family whatever os-release says
    __slots__ = ()


DEBIAN = FamilyLayout(
    name="debian",
    ids=("debian", "ubuntu"),
    anchor_dir="/usr/local/share/ca-certificates",
    suffix=".crt",  # update-ca-certificates ignores any other ending
    tools=("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates"),
    tool_args=(),
    # Without --fresh the links in /etc/ssl/certs to removed anchors stay behind.
    uninstall_args=("--fresh",),
    bundles=("/etc/ssl/certs/ca-certificates.crt",),
    openssl_dir="/usr/lib/ssl",
)
RHEL = FamilyLayout(
    name="rhel",
    ids=("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn"),
    anchor_dir="/etc/pki/ca-trust/source/anchors",
    suffix=".pem",
    tools=("/usr/bin/update-ca-trust", "/usr/sbin/update-ca-trust"),
    # Never `force-enable`: obsolete since EL7 and rejected on EL10.
    tool_args=("extract",),
    uninstall_args=(),
    bundles=(
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ),
    openssl_dir="/etc/pki/tls",
)
# Only the full ca-certificates package has the tool; ca-certificates-bundle
# alone (the default in alpine images) falls through to the no-tool family.
ALPINE = FamilyLayout(
    name="alpine",
    ids=("alpine",),
    anchor_dir="/usr/local/share/ca-certificates",
    suffix=".crt",
    tools=("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates"),
    tool_args=(),
    uninstall_args=(),
    bundles=("/etc/ssl/certs/ca-certificates.crt",),
    openssl_dir="/etc/ssl",
)
SUSE = FamilyLayout(
    name="suse",
    ids=("suse", "opensuse", "sles", "sled", "opensuse-leap", "opensuse-tumbleweed"),
    anchor_dir="/etc/pki/trust/anchors",
    suffix=".pem",
    tools=("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates"),
    tool_args=(),
    uninstall_args=(),
    bundles=("/var/lib/ca-certificates/ca-bundle.pem", "/etc/ssl/ca-bundle.pem"),
    openssl_dir="/etc/ssl",
)
# Any distribution laid out the p11-kit way counts, whatever its ID says.
ARCH = FamilyLayout(
    name="arch",
    ids=("arch", "archarm", "manjaro", "endeavouros", "artix"),
    anchor_dir="/etc/ca-certificates/trust-source/anchors",
    suffix=".crt",
    tools=("/usr/bin/trust",),
    tool_args=("extract-compat",),
    uninstall_args=(),
    bundles=("/etc/ca-certificates/extracted/tls-ca-bundle.pem",),
    openssl_dir="/etc/ssl",
    marker="/etc/ca-certificates/trust-source",
)
# In detection order.
TOOL_FAMILIES = (DEBIAN, RHEL, ALPINE, SUSE, ARCH)

# No tool: what many programs open directly, and OpenSSL's usual default.
DIRECT_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DEFAULT_OPENSSL_DIR = "/etc/ssl"

# Every PEM system bundle a program may be pointed at, compiled or not, in
# the order the hook prefers them (the first that exists is the system's).
SYSTEM_BUNDLES = tuple(
    dict.fromkeys(
        [
            DIRECT_BUNDLE,  # Debian, Ubuntu, Alpine; Arch links it
            "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL family
            "/etc/ssl/cert.pem",  # Alpine, Arch (OPENSSLDIR /etc/ssl)
            "/usr/lib/ssl/cert.pem",  # Debian, Ubuntu (OPENSSLDIR /usr/lib/ssl)
            "/etc/pki/tls/cert.pem",  # RHEL family (OPENSSLDIR /etc/pki/tls)
            *[b for fam in TOOL_FAMILIES for b in fam.bundles],
        ]
    )
)
# OpenSSL's "TRUSTED CERTIFICATE" format, with trust bits: read by audit only.
TRUST_BUNDLES = ("/etc/pki/tls/certs/ca-bundle.trust.crt",)
# Everything in these trees is compiled from anchors by the distro's tool.
COMPILED_TREES = (
    "/etc/pki/ca-trust/extracted/",
    "/var/lib/ca-certificates/",
    "/etc/ca-certificates/extracted/",
)
# OpenSSL CApath directories (subject-hash links).
HASH_DIRS = (
    "/etc/ssl/certs",
    "/usr/lib/ssl/certs",
    "/etc/pki/tls/certs",
    "/var/lib/ca-certificates/openssl",
    "/etc/ca-certificates/extracted/cadir",
    "/etc/pki/ca-trust/extracted/pem/directory-hash",
)
# Where a target's libcrypto (or a static openssl) may be, to read the
# OPENSSLDIR it was built with from its bytes instead of running it.
LIBCRYPTO_GLOBS = (
    "/usr/lib/*-linux-gnu/libcrypto.so.*",
    "/lib/*-linux-gnu/libcrypto.so.*",
    "/usr/lib64/libcrypto.so.*",
    "/lib64/libcrypto.so.*",
    "/usr/lib/libcrypto.so.*",
    "/lib/libcrypto.so.*",
    "/usr/local/lib/libcrypto.so.*",
    "/usr/local/lib64/libcrypto.so.*",
    "/usr/bin/openssl",
    "/usr/local/bin/openssl",
)

# What `ats install` records, so `ats uninstall` removes exactly that; and
# the lock that serializes installs on one root.
STATE_DIR = "/var/lib/ats-roots"
MANIFEST = STATE_DIR + "/manifest"
LOCK = STATE_DIR + "/lock"

# What a distro tool killed mid-run leaves behind and then trips over:
# Debian's update-ca-certificates appends to ca-certificates.crt.new (its
# cleanup is an EXIT trap, which SIGKILL skips), so the next run would
# compile every certificate twice.
TOOL_LEFTOVERS = {"update-ca-certificates": ("/etc/ssl/certs/ca-certificates.crt.new",)}
# And what it then needs to be run with: Debian's tool counts only the links
# it makes anew, so after a run killed between its links and `openssl
# rehash` the next run makes none and never rehashes: --fresh redoes them all.
AFTER_INTERRUPTED = {"debian": ("--fresh",)}
# Present while a tool of the target's runs: a run that finds it knows the
# last one died there (a kill, a power cut) and says so to the tool.
TOOL_RUNNING = STATE_DIR + "/tool-running"
