"""Which files might decide trust, by name alone, then by their first bytes.

Audit must stay fast on big images: a file is opened only when its name
looks like a trust store, and then only its head is read. The same rules
pick what an image export keeps (image.py) and what a directory walk opens
(walk.py), so both see the same stores.
"""

from __future__ import annotations

import re

from ats_roots import _portable
from ats_roots.formats import keystore

HEAD = 4096  # bytes sniffed per candidate
MAX_STORE = 16 << 20  # bigger files are not trust stores; never read them

PEM_EXT = (".pem", ".crt", ".cer", ".cert", ".ca-bundle")
JAVA_EXT = (".jks", ".jceks", ".keystore", ".truststore")
P12_EXT = (".p12", ".pfx")  # usually client keys: only when named like a trust store
STORE_WORDS = ("cacert", "ca-cert", "ca_cert", "ca-bundle", "cabundle", "bundle", "trust")
HASH_NAME = _portable.HASH_LINK_NAME  # OpenSSL CApath links: 3513523f.0

# Old AWS SDKs, by package metadata (see old_sdks.py for what each means).
PY_SDK_DIR = re.compile(r"^(boto|botocore|awscli)-([0-9][^-]*?)(?:-py[0-9.]+)?\.(dist|egg)-info$")
JAVA_SDK_JAR = re.compile(r"^aws-java-sdk(?:-[a-z0-9]+)*-([0-9]+\.[0-9]+\.[0-9]+)\.jar$")
RUBY_SDK_SPEC = re.compile(r"^(aws-sdk|aws-sdk-v1|aws-sdk-core)-([0-9][0-9.]*)\.gemspec$")
NODE_SDK_PACKAGE = "/node_modules/aws-sdk/package.json"
PY_METADATA = ("METADATA", "PKG-INFO")


def want(name: str) -> str | None:
    """'pem', 'java', 'store' (either) or None, from a file name."""
    lower = name.lower()
    dot = lower.rfind(".")
    ext = lower[dot:] if dot > 0 else ""
    if ext in PEM_EXT:
        return "pem"
    if ext in JAVA_EXT:
        return "java"
    if HASH_NAME.match(name):
        return "pem"
    if not any(w in lower for w in STORE_WORDS):
        return None
    if ext in P12_EXT:
        return "java"
    if ext in ("", ".txt", ".bundle"):
        return "store"  # cacerts is JKS in a JDK, PEM elsewhere (boto's cacerts.txt)
    return None


def sniff(kind: str, head: bytes) -> str | None:
    """'pem' or 'java' if head holds what kind promised, else None."""
    if kind in ("java", "store") and keystore.sniff(head):
        return "java"
    if kind in ("pem", "store") and b"CERTIFICATE-----" in head:
        return "pem"
    return None


def is_sdk_dir(name: str) -> bool:
    return PY_SDK_DIR.match(name) is not None


def is_sdk_file(path: str, name: str) -> bool:
    """Metadata files of old SDKs that audit reads (or, for jars, only names)."""
    if name in PY_METADATA:
        parent = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
        return is_sdk_dir(parent)
    if name.endswith(".egg-info"):  # distutils wrote it as a file
        return is_sdk_dir(name)
    if name.endswith(".jar"):
        return JAVA_SDK_JAR.match(name) is not None
    if name.endswith(".gemspec"):
        return RUBY_SDK_SPEC.match(name) is not None
    return path.endswith(NODE_SDK_PACKAGE)
