"""The five Amazon Trust Services roots, shipped as data and pinned in code."""

from __future__ import annotations

import datetime
import warnings
from collections import namedtuple

from ats_roots import _portable
from ats_roots.errors import BadInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms)
if TYPE_CHECKING:
    from cryptography import x509

# SHA-256 of each root's DER, from Mozilla's list (as carried by certifi).
# A data file that does not match its pin is never used.
PINS = {
    "AmazonRootCA1.pem": (
        "Amazon Root CA 1",
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    ),
    "AmazonRootCA2.pem": (
        "Amazon Root CA 2",
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    ),
    "AmazonRootCA3.pem": (
        "Amazon Root CA 3",
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    ),
    "AmazonRootCA4.pem": (
        "Amazon Root CA 4",
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    ),
    "SFSRootCAG2.pem": (
        "Starfield Services Root Certificate Authority - G2",
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
    ),
}


# SHA-256 of each root's SubjectPublicKeyInfo: the pin Amazon Trust Services
# recommends, published beside each root at https://www.amazontrust.com/repository/
# ("Subject Public Key Info SHA-256 hash"). Computed from the shipped PEMs
# (tests/test_trust_keys.py recomputes them) and cross-checked against the
# values that independent projects pin from that page (e.g. the Alexa skill
# request validators and AWS SDK pinning samples found with the code search).
SPKI_PINS = {
    "AmazonRootCA1.pem": "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2",
    "AmazonRootCA2.pem": "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461",
    "AmazonRootCA3.pem": "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9",
    "AmazonRootCA4.pem": "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5",
    "SFSRootCAG2.pem": "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92",
}


# OpenSSL's subject-name hash of each root (`openssl x509 -subject_hash`): the
# names under which OpenSSL's CApath lookup looks for them, <hash>.0, <hash>.1...
# tests/test_verify_as_openssl.py recomputes them with OpenSSL and _portable.
SUBJECT_HASHES = {
    "AmazonRootCA1.pem": "ce5e74ef",
    "AmazonRootCA2.pem": "6d41d539",
    "AmazonRootCA3.pem": "8cb5ee0f",
    "AmazonRootCA4.pem": "de6d66f3",
    "SFSRootCAG2.pem": "09789157",
}


# collections.namedtuple, not a dataclass or typing.NamedTuple: `dataclasses`
# (with inspect) and `typing` are each milliseconds of every start, and these
# are plain immutable records.
class KeyPin(namedtuple("KeyPin", ["name", "sha256", "spki_sha256"])):
    """One root as recognised: by its certificate's SHA-256 or by its key."""

    # sha256: the pinned (shipped) certificate
    __slots__ = ()


def key_pins() -> list[KeyPin]:
    """The five ATS roots. Callers that recognise roots take a list like this
    as an argument, so tests can pass pins of their own keys."""
    return [KeyPin(name, pin, SPKI_PINS[fn]) for fn, (name, pin) in PINS.items()]


class PinMismatch(BadInput):
    """A root file whose SHA-256 is not the pinned one."""


class Root(namedtuple("Root", ["name", "filename", "sha256", "pem", "der"])):
    __slots__ = ()

    @property
    def certificate(self) -> x509.Certificate:
        return load_der_quietly(self.der)

    @property
    def slug(self) -> str:
        """File-name stem for anchors: 'ats-AmazonRootCA1'."""
        return "ats-" + self.filename.rsplit(".", 1)[0]

    def summary(self) -> dict:
        from ats_roots.trust import calendar

        cert = self.certificate
        spki = _portable.spki_sha256(self.der)
        entry = calendar.by_key().get(spki)
        dates = entry.to_json() if entry else {}
        return {
            "name": self.name,
            "file": self.filename,
            "subject": cert.subject.rfc4514_string(),
            "sha256": _portable.colon_hex(self.sha256),
            "spki_sha256": _portable.colon_hex(spki),
            "not_after": cert.not_valid_after_utc.isoformat(),
            **{k: v for k, v in dates.items() if k != "not_after"},
        }


def load_der_quietly(der: bytes) -> x509.Certificate:
    """Starfield Services Root G2 has serial number 0, which RFC 5280 forbids
    and cryptography warns about; it is a trusted root all the same."""
    # Imported here: `ats verify` and `ats install` mostly need no X.509 parser.
    from cryptography import x509
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def check_pin(filename: str, data: bytes) -> Root:
    """Parse one root file and check it against its pin, or raise naming it."""
    if filename not in PINS:
        raise PinMismatch(f"{filename}: not one of the pinned Amazon Trust Services roots")
    name, pin = PINS[filename]
    try:
        blocks = _portable.pem_blocks(data, strict=True)
    except _portable.PemError as exc:
        raise PinMismatch(f"{filename}: {exc}") from None
    if len(blocks) != 1:
        raise PinMismatch(f"{filename}: holds {len(blocks)} certificates, expected 1")
    pem, der = blocks[0]
    got = _portable.sha256_hex(der)
    if got != pin:
        raise PinMismatch(
            f"{filename}: SHA-256 {_portable.colon_hex(got)} does not match the pin "
            f"{_portable.colon_hex(pin)} for {name}"
        )
    if _portable.spki_sha256(der) != SPKI_PINS[filename]:
        raise PinMismatch(f"{filename}: its public key is not the one pinned for {name}")
    return Root(name=name, filename=filename, sha256=pin, pem=pem, der=der)


def load_roots() -> list[Root]:
    """The five shipped roots, each checked against its pin."""
    from importlib import resources  # here, not at the top: most commands never read the files

    data_dir = resources.files(__package__) / "data"
    return [check_pin(fn, (data_dir / fn).read_bytes()) for fn in PINS]


def pinned_fingerprints() -> dict[str, str]:
    """sha256 hex -> root name, without reading any file."""
    return {pin: name for name, pin in PINS.values()}


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def roots_outcome():
    """`ats roots`: the pinned roots, for people and as JSON."""
    from ats_roots.outcome import Outcome

    rows = [r.summary() for r in load_roots()]
    lines = []
    for r in rows:
        lines += [r["name"], f"  subject   {r['subject']}", f"  sha256    {r['sha256']}"]
        lines.append(f"  key       {r['spki_sha256']} (SPKI SHA-256)")
        lines.append(f"  not after {r['not_after']}")
        if r.get("tls_distrust"):
            lines.append(
                f"  loses TLS trust {r['tls_distrust']} (Mozilla: {r['distrust_rule']}; "
                f"key created {r['key_created']})"
            )
    return Outcome(lines, rows)
