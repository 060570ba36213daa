"""Read what a system's OpenSSL trusts: its bundles and hashed directories."""

from __future__ import annotations

import re

from ats_roots import _portable
from ats_roots.system.target import Target, refusing
from ats_roots.trust.roots import SUBJECT_HASHES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms)
if TYPE_CHECKING:
    from ats_roots.system.families import Family


class StoreView:
    """Fingerprints found, where; `openssl` marks the places OpenSSL reads."""

    # A plain class, not a dataclass: `dataclasses` is a tenth of verify's start.
    def __init__(self) -> None:
        self.locations: dict[str, set[str]] = {}
        self.openssl: set[str] = set()
        self.der_by_sha: dict[str, bytes] = {}
        self.seen: dict[bytes, str] = {}  # PEM block -> its SHA-256
        self.files: dict[bytes, set[str]] = {}  # a file's bytes -> its certificates
        self.notes: list[str] = []  # for people: why a file counts for nothing

    def trusted(self) -> set[str]:
        found: set[str] = set()
        for path in self.openssl or self.locations:
            found |= self.locations.get(path, set())
        return found

    def where(self, sha: str) -> list[str]:
        return sorted(p for p, shas in self.locations.items() if sha in shas)


def read_bundle(view: StoreView, host_path: str, label: str) -> None:
    """A file named by the user on the host (`--bundle FILE`)."""
    try:
        with open(host_path, "rb") as f:
            data = f.read()
    except OSError:
        return
    view.locations[label] = _bundle_fingerprints(view, data, label)


def read_target_bundle(view: StoreView, target: Target, inner: str, label: str) -> None:
    """A bundle inside the target, read through its safe reads (links followed
    as the target sees them; a FIFO or device refused, never opened); absent or
    a directory: nothing there."""
    try:
        data = target.read(inner)
    except IsADirectoryError:
        return
    if data is not None:
        view.locations[label] = _bundle_fingerprints(view, data, label)


def _bundle_fingerprints(view: StoreView, data: bytes, label: str) -> set[str]:
    shas = _fingerprints(view, data)
    if not shas and _portable.cert_blocks(data):
        view.notes.append(
            f"{label}: a certificate block in it is not base64, so OpenSSL loads "
            "no certificate from this file"
        )
    return shas


def read_hash_dir(view: StoreView, target: Target, label: str) -> None:
    """label: the CApath inside the target. Its hash links are followed as the
    target sees them: Debian's point at absolute paths, which on the host are
    the host's own files (or nothing)."""
    try:
        names = refusing(target.fs.listdir, label)
    except (FileNotFoundError, NotADirectoryError):
        return
    merged: set[str] = set()
    for name in sorted(n for n in names if _portable.HASH_LINK_NAME.match(n)):
        merged |= _hash_file(view, target, label + "/" + name)
    view.locations[label] = merged


def read_hash_lookup(
    view: StoreView, target: Target, label: str, subject_hashes, openssl3: bool
) -> None:
    """label: the CApath inside the target, read the way its OpenSSL looks a
    subject up there (the other ~140 links of a Debian store are not read):
    - the hash-dir lookup (every version): <hash>.0, <hash>.1, ... up to the
      first that is absent or holds no certificate;
    - OpenSSL 3 also searches the same directory as a store: any name
      <hash>.<digits> (the hash in either case, an optional r), none in order.
      One that holds no certificate ends that search, and where it comes in
      the directory's order decides what was found before it: ats counts
      none then (a missing root it may report too eagerly, never a false one).
    A certificate under any other name is never found, so it is not counted.
    tests/test_verify_as_openssl.py holds each rule to the root's own OpenSSL."""
    try:
        names = refusing(target.fs.listdir, label)
    except (FileNotFoundError, NotADirectoryError):
        return
    merged: set[str] = set()
    present = set(names)
    read: dict[str, set[str]] = {}  # name -> its certificates: both rules read <hash>.0

    def certs_in(name: str) -> set[str]:
        if name not in read:
            read[name] = _hash_file(view, target, f"{label}/{name}")
        return read[name]

    for digest in sorted(set(subject_hashes)):
        k = 0
        while f"{digest}.{k}" in present:
            found = certs_in(f"{digest}.{k}")
            if not found:
                break
            merged |= found
            k += 1
        if openssl3:
            store_name = re.compile(rf"{digest}\.r?[0-9]+", re.I)
            found_all: set[str] = set()
            for name in names:
                if store_name.fullmatch(name):
                    found = certs_in(name)
                    if not found:
                        found_all = set()
                        break
                    found_all |= found
            merged |= found_all
    view.locations[label] = merged


def _hash_file(view: StoreView, target: Target, inner: str) -> set[str]:
    try:
        return _fingerprints(view, target.read(inner) or b"")
    except IsADirectoryError:
        return set()


def _fingerprints(view: StoreView, data: bytes) -> set[str]:
    """SHA-256 of every certificate in data. A store names one certificate in
    several places (Debian's bundle, its OpenSSL's cert.pem, and a hash link
    per certificate): each PEM block is decoded and hashed once per view.
    A file with a block that does not decode gives nothing: OpenSSL loads no
    certificate at all from it (PEM_X509_INFO_read_bio fails the file).
    The same file reached twice (Debian's cert.pem links to its bundle) is
    scanned once."""
    if data in view.files:
        return set(view.files[data])
    view.files[data] = shas = set()
    for block, body in _portable.cert_blocks(data):
        sha = view.seen.get(block)
        if sha is None:
            try:
                der = _portable.pem_body_der(body)
            except ValueError:
                shas.clear()
                return shas
            sha = view.seen[block] = _portable.sha256_hex(der)
            view.der_by_sha.setdefault(sha, der)
        shas.add(sha)
    return shas


def view_target(target: Target, family: Family) -> StoreView:
    """The target's OpenSSL defaults (CAfile, CApath, the latter looked up for
    the pinned roots' subjects as OpenSSL does) plus its family's bundles,
    read from files only."""
    view = StoreView()
    paths = family.openssl(target)
    cafile, capath = paths.cafile, paths.capath
    read_target_bundle(view, target, cafile, cafile)
    openssl3 = (_portable.libcrypto_major(paths.found_in) or 0) >= 3  # not .so.1.1
    read_hash_lookup(view, target, capath, SUBJECT_HASHES.values(), openssl3)
    view.openssl = {cafile, capath} & set(view.locations)
    for bundle in family.store_files(target):
        if bundle not in view.locations:
            read_target_bundle(view, target, bundle, bundle)
    return view


def view_bundle(path: str) -> StoreView:
    view = StoreView()
    read_bundle(view, path, path)
    view.openssl = set(view.locations)
    return view


def root_report(view: StoreView, pins=None) -> list[dict]:
    """Per root: trusted, how it is held (pinned certificate, another
    self-signed certificate of its key, a cross-signed copy only), where."""
    from ats_roots.trust import keys

    return keys.store_report(view, pins)
