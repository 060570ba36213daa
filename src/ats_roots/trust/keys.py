"""Roots recognised by key: a store holds a root when it holds the pinned
certificate, or any self-signed certificate (signature checked) of the
root's key. A cross-signed copy of the key (issued by another CA, like
rootca1.pem: Amazon Root CA 1 issued by Starfield Services G2) is an anchor
only for clients that accept partial chains (OpenSSL's X509_V_FLAG_PARTIAL_CHAIN,
set by Python 3.13+), not for OpenSSL's default."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable

from ats_roots import _portable
from ats_roots.trust.roots import KeyPin, key_pins

PINNED, SAME_KEY, CROSS_ONLY, ABSENT = "pinned", "same-key", "cross-signed-only", "absent"


# collections.namedtuple, not a dataclass or typing.NamedTuple: `dataclasses`
# (with inspect) and `typing` are each milliseconds of every start, and these
# are plain immutable records.
class Holding(namedtuple("Holding", ["name", "how", "sha256", "shadowed"], defaults=(False,))):
    # how: PINNED, SAME_KEY, CROSS_ONLY or ABSENT
    # sha256: the certificate that carries the key here ("" when absent)
    # shadowed: a cross-signed copy of the key comes before it
    __slots__ = ()

    @property
    def trusted(self) -> bool:
        """An anchor for OpenSSL's default profile."""
        return self.how in (PINNED, SAME_KEY)

    @property
    def note(self) -> str:
        notes = [self._how_note()]
        if self.shadowed:
            notes.append(
                "a cross-signed copy of its key comes first: OpenSSL 3 takes the first "
                "certificate of a subject and then needs that copy's issuer too, or "
                "partial chains, to validate"
            )
        return "; ".join(n for n in notes if n)

    def _how_note(self) -> str:
        if self.how == SAME_KEY:
            return (
                f"held as another self-signed certificate of its key "
                f"(SHA-256 {_portable.colon_hex(self.sha256)[:23]}...), not the pinned one"
            )
        if self.how == CROSS_ONLY:
            return (
                "only a cross-signed copy of its key: an anchor for clients that accept "
                "partial chains (Python 3.13+), not for OpenSSL's default"
            )
        return ""


def recognise(ders: Iterable[bytes], pins: list[KeyPin] | None = None) -> list[Holding]:
    """One Holding per pin, for a store holding the certificates ders."""
    pins = key_pins() if pins is None else pins
    ders = list(ders)
    shas = {_portable.sha256_hex(d) for d in ders}
    missing = [p for p in pins if p.sha256 not in shas]
    # The key scan and its signature checks run only when a pinned certificate is missing.
    by_key = _portable.roots_by_key(ders, {p.spki_sha256 for p in missing}) if missing else {}
    out = []
    for pin in pins:
        if pin.sha256 in shas:
            out.append(Holding(pin.name, PINNED, pin.sha256))
            continue
        der, kind = by_key.get(pin.spki_sha256, (b"", ""))
        how = SAME_KEY if kind == "self-signed" else CROSS_ONLY if kind else ABSENT
        out.append(Holding(pin.name, how, _portable.sha256_hex(der) if der else ""))
    return [_shadow(h, ders, pins) for h in out]


def _shadow(held: Holding, ders: list[bytes], pins: list[KeyPin]) -> Holding:
    """Mark a held root whose key also comes, earlier in the same store, in a
    certificate issued by another CA (OpenSSL 3 takes the first one it finds)."""
    if not held.trusted:
        return held
    spki = next(p.spki_sha256 for p in pins if p.name == held.name)
    for der in ders:
        if _portable.sha256_hex(der) == held.sha256:
            return held
        try:
            crossed = _portable.spki_sha256(der) == spki and (
                _portable.issuer_der(der) != _portable.subject_der(der)
            )
        except (IndexError, ValueError):
            continue
        if crossed:
            return Holding(held.name, held.how, held.sha256, shadowed=True)
    return held


def store_report(view, pins: list[KeyPin] | None = None) -> list[dict]:
    """Per root: trusted (an anchor for OpenSSL's default), how it is held,
    where, and a note (system.view.StoreView: what the places OpenSSL reads
    hold, in the order it reads them)."""
    from ats_roots.trust import calendar

    pins = key_pins() if pins is None else pins
    dates = calendar.by_key()
    out = []
    for pin, held in zip(pins, recognise(anchors(view), pins)):
        entry = dates.get(pin.spki_sha256)
        out.append(
            {
                "name": pin.name,
                "sha256": _portable.colon_hex(pin.sha256),
                "spki_sha256": _portable.colon_hex(pin.spki_sha256),
                "trusted": held.trusted,
                "how": held.how,
                "held_sha256": _portable.colon_hex(held.sha256) if held.sha256 else "",
                "where": view.where(held.sha256 or pin.sha256),
                "note": held.note,
                **(entry.to_json() if entry else {}),
            }
        )
    return out


def anchors(view) -> list[bytes]:
    """The certificates OpenSSL would trust, in the order it reads them."""
    trusted = view.trusted()
    return [der for sha, der in view.der_by_sha.items() if sha in trusted]
