"""Planted gaps for `ats audit` and `ats patch`: test CAs, key stores, old
SDK metadata, a static binary, and the Docker build contexts of the test
images. Everything is made here, on the spot: no download, no registry.

Used by tests/test_audit_*.py and tests/test_patch_*.py (on directories) and
by tests/matrix/test_patch_matrix.py (as images built FROM the local bases).
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
from dataclasses import dataclass, field

import trustme
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, pkcs12

from ats_roots.trust.certs import ats_certs

JDK17_CACERTS = "/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts"
DEBIAN_JAVA = "/etc/ssl/certs/java/cacerts"  # JDK 17's cacerts links here, as on Debian
JDK21_CACERTS = "/opt/jdk-21/lib/security/cacerts"  # PKCS#12 without password, as JDK 18+
PINNED_BUNDLE = "/app/certs/ca.pem"
SITE = "/usr/local/lib/python3.13/site-packages"
BOTOCORE_BUNDLE = f"{SITE}/botocore/cacert.pem"
SCRATCH_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def test_cas(n: int, org: str = "ATS Audit Test") -> list[trustme.CA]:
    return [
        trustme.CA(organization_name=org, organization_unit_name=f"Test Root {i}") for i in range(n)
    ]


def der_of(ca: trustme.CA) -> bytes:
    return ca._certificate.public_bytes(Encoding.DER)


def pem_bundle(cas) -> bytes:
    return b"".join(ca.cert_pem.bytes() for ca in cas)


def jks_store(cas, password: str = "changeit") -> bytes:
    """A JKS trust store, written by pyjks (not by the code under test)."""
    import jks

    entries = [jks.TrustedCertEntry.new(f"test-root-{i}", der_of(ca)) for i, ca in enumerate(cas)]
    return jks.KeyStore.new("jks", entries).saves(password)


def p12_truststore(cas, encryption=None) -> bytes:
    """A Java PKCS#12 trust store; no password by default (JDK 18+ cacerts)."""
    certs = [
        pkcs12.PKCS12Certificate(ca._certificate, f"test-root-{i}".encode())
        for i, ca in enumerate(cas)
    ]
    return pkcs12.serialize_java_truststore(certs, encryption or NoEncryption())


def leaf_chain(ca: trustme.CA) -> bytes:
    """A server's chain file: leaf first. Not a trust store."""
    return ca.issue_cert("app.example.test").cert_chain_pems[0].bytes() + ca.cert_pem.bytes()


def static_binary() -> bytes:
    """A static x86-64 Linux ELF that writes "ok" and exits 0: the app of the
    FROM scratch image, made here so the test needs no compiler or package."""
    base = 0x400000
    code = (
        bytes.fromhex(
            "b801000000"  # mov eax, 1 (write)
            "bf01000000"  # mov edi, 1 (stdout)
            "488d3510000000"  # lea rsi, [rip+16] -> msg
            "ba03000000"  # mov edx, 3
            "0f05"  # syscall
            "b83c000000"  # mov eax, 60 (exit)
            "31ff"  # xor edi, edi
            "0f05"  # syscall
        )
        + b"ok\n"
    )
    size = 64 + 56 + len(code)
    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, base + 120, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + program + code


def old_sdk_files() -> dict[str, bytes]:
    """Package metadata of AWS SDKs released before 2015-02-05."""
    meta = b"Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
    gemspec = b'Gem::Specification.new { |s| s.name = "aws-sdk"; s.version = "1.50.0" }\n'
    return {
        f"{SITE}/botocore-0.80.0.dist-info/METADATA": meta % (b"botocore", b"0.80.0"),
        f"{SITE}/boto-2.9.0.egg-info/PKG-INFO": meta % (b"boto", b"2.9.0"),
        # after the cut-off: never reported
        f"{SITE}/awscli-1.10.0.dist-info/METADATA": meta % (b"awscli", b"1.10.0"),
        "/srv/app/node_modules/aws-sdk/package.json": b'{"name": "aws-sdk", "version": "2.0.31"}\n',
        "/opt/app/lib/aws-java-sdk-core-1.9.0.jar": b"PK\x05\x06" + bytes(18),
        "/usr/lib/ruby/gems/2.1.0/specifications/aws-sdk-1.50.0.gemspec": gemspec,
    }


@dataclass
class Plant:
    """One test image: FROM base, files (path -> bytes), symlinks, Dockerfile lines."""

    name: str
    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)  # ENTRYPOINT, USER, ...

    def write(self, root: str) -> None:
        """The same files and links in an unpacked root (for --root tests)."""
        for inner, data in self.files.items():
            host = root + inner
            os.makedirs(os.path.dirname(host), exist_ok=True)
            with open(host, "wb") as f:
                f.write(data)
            os.chmod(host, self.modes.get(inner, 0o644))
        for inner, points_to in self.links.items():
            os.makedirs(os.path.dirname(root + inner), exist_ok=True)
            os.symlink(points_to, root + inner)

    def context(self) -> io.BytesIO:
        """A docker build context: Dockerfile and rootfs/ (COPY keeps symlinks)."""
        lines = [f"FROM {self.base}"]
        if self.files or self.links:
            lines.append("COPY rootfs/ /")
        lines += self.extra
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            _add(tar, "Dockerfile", ("\n".join(lines) + "\n").encode(), 0o644)
            for inner, data in self.files.items():
                _add(tar, "rootfs" + inner, data, self.modes.get(inner, 0o644))
            for inner, points_to in self.links.items():
                info = tarfile.TarInfo("rootfs" + inner)
                info.type, info.linkname = tarfile.SYMTYPE, points_to
                tar.addfile(info)
        out.seek(0)
        return out


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def plants(
    debian="ats-local/debian:bookworm",
    bare="ats-local/debian-bare:bookworm",
    noamazon="ats-local/debian-noamazon:bookworm",
    alpine_noamazon="ats-local/alpine-noamazon:3.23",
    alpine_python="ats-local/alpine-python:3.23",
) -> dict[str, Plant]:
    """Every planted gap of the issue, one image each."""
    corp = test_cas(1, "Corp Pinning Test")
    many = test_cas(12)  # more than a handful: a real store that lacks the roots
    return {
        "noamazon": Plant("noamazon", noamazon),
        "alpine-noamazon": Plant("alpine-noamazon", alpine_noamazon),
        "no-ca-package": Plant("no-ca-package", bare),
        "pinned": Plant("pinned", debian, files={PINNED_BUNDLE: pem_bundle(corp)}),
        "java": Plant(
            "java",
            debian,
            files={DEBIAN_JAVA: jks_store(many), JDK21_CACERTS: p12_truststore(many)},
            links={JDK17_CACERTS: DEBIAN_JAVA},
        ),
        "old-sdk": Plant(
            "old-sdk", alpine_python, files={**old_sdk_files(), BOTOCORE_BUNDLE: pem_bundle(many)}
        ),
        "scratch": Plant(
            "scratch",
            "scratch",
            files={"/app": static_binary(), SCRATCH_BUNDLE: pem_bundle(many)},
            modes={"/app": 0o755},
            extra=[
                'ENTRYPOINT ["/app"]',
                'CMD ["--serve"]',
                "USER 65532:65532",
                "ENV APP_MODE=production",
                "WORKDIR /",
                'LABEL org.example.app="scratch-test"',
                "EXPOSE 8443",
                'VOLUME ["/data"]',
            ],
        ),
        # Neither ENTRYPOINT nor CMD: docker cannot create a container of it
        # without a command, so patch builds FROM it instead of committing.
        "no-command": Plant("no-command", "scratch", files={SCRATCH_BUNDLE: pem_bundle(many)}),
    }


def ats_pems() -> list[bytes]:
    return [c.pem for c in ats_certs()]
