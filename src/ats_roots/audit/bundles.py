"""Any other PEM file that acts as a trust store: a CA bundle an
application loads itself (a pinned one, typically). Chains that start with a
server certificate, the one-certificate files the distro tools compile from,
and test data are not trust stores."""

from __future__ import annotations

import os

from ats_roots._portable import sha256_hex
from ats_roots.audit.names import HASH_NAME
from ats_roots.audit.read import is_ca
from ats_roots.trust.roots import pinned_fingerprints

# Inputs of the distro tools, one CA per file: the compiled stores count them.
ANCHOR_DIRS = (
    "/usr/share/ca-certificates/",
    "/usr/local/share/ca-certificates/",
    "/etc/pki/ca-trust/source/",
    "/usr/share/pki/ca-trust-source/",
    "/etc/pki/trust/anchors/",
    "/usr/share/pki/trust/anchors/",
    "/etc/ca-certificates/trust-source/",
    "/usr/share/doc/",
)
ATS_PINS = pinned_fingerprints()
TEST_DIRS = {"test", "tests", "testing", "testdata", "test_data", "certdata", "unittests"}


def is_store(inner: str, ders: list[bytes], hash_dirs: set[str]) -> bool:
    if not ders or inner.startswith(ANCHOR_DIRS):
        return False
    parent, name = os.path.split(inner)
    if HASH_NAME.match(name):  # counted with its directory
        return False
    if parent in hash_dirs and len(ders) == 1:  # one member of a CApath directory
        return False
    if TEST_DIRS.intersection(inner.split("/")):
        return False
    if len(ders) == 1 and sha256_hex(ders[0]) in ATS_PINS:
        return False  # a copy of one ATS root (ats's own data files): a source, not a store
    return is_ca(ders[0])  # a chain starts with its leaf
