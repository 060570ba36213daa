"""The roots' calendar: not-after and the date public root programs stop
trusting each root for TLS (trust/data/calendar.json, with its sources).

Only verify, audit and probe read it, against the time they check at; install
never does, so that the same version and inputs write the same files on any day.
"""

from __future__ import annotations

import datetime
import json
import os
from collections import namedtuple

from ats_roots import _portable

WARN_DAYS = 365  # --warn-days default


# collections.namedtuple, not a dataclass or typing.NamedTuple: `dataclasses`
# (with inspect) and `typing` are each milliseconds of every start, and these
# are plain immutable records.
_FIELDS = "name spki_sha256 key_created not_after tls_distrust rule legacy"


class Entry(namedtuple("Entry", _FIELDS)):
    # legacy: not one of the five ATS roots (an old anchor of their cross-signs)
    __slots__ = ()

    def to_json(self) -> dict:
        return {
            "key_created": self.key_created.isoformat(),
            "not_after": self.not_after.isoformat(),
            "tls_distrust": self.tls_distrust.isoformat(),
            "distrust_rule": self.rule,
        }

    def soon(self, at: datetime.datetime, warn_days: int) -> list[str]:
        """Phrases for the dates within warn_days of at (or already past)."""
        out = []
        for what, day in (("expires", self.not_after), ("loses TLS trust", self.tls_distrust)):
            left = (day - at.date()).days
            if left < 0:
                past = "expired" if what == "expires" else "lost TLS trust in Mozilla's store"
                out.append(f"{self.name} {past} on {day} ({-left} days ago)")
            elif left <= warn_days:
                out.append(f"{self.name} {what} on {day} (in {left} days)")
        return out


_CACHE: list = []


def data() -> dict:
    if not _CACHE:
        # Beside this module, read with open(): importlib.resources (pathlib,
        # zipfile) would be a fifth of `ats verify`'s start, and ats is installed
        # as files (pip, or the wheel in an image), never run from a zip.
        with open(os.path.join(os.path.dirname(__file__), "data", "calendar.json"), "rb") as f:
            text = f.read().decode("utf-8")
        _CACHE.append(json.loads(text))
    return _CACHE[0]


def entries() -> list[Entry]:
    doc = data()
    day = datetime.date.fromisoformat
    return [
        Entry(
            e["name"],
            e["spki_sha256"],
            day(e["key_created"]),
            day(e["not_after"]),
            day(e["tls_distrust"]),
            e["rule"],
            legacy,
        )
        for legacy, rows in ((False, doc["roots"]), (True, doc["legacy"]))
        for e in rows
    ]


def by_key() -> dict[str, Entry]:
    return {e.spki_sha256: e for e in entries()}


def _entry_for(der: bytes) -> Entry | None:
    try:
        return by_key().get(_portable.spki_sha256(der))
    except (IndexError, ValueError):
        return None


def fate(der: bytes, at: datetime.datetime) -> str:
    """For a weakness line: the root program's schedule for this anchor's key."""
    entry = _entry_for(der)
    if entry is None:
        return ""
    when = "removed" if entry.tls_distrust <= at.date() else "to be removed"
    return (
        f"a root on its way out of public stores (Mozilla's websites trust {when} "
        f"{entry.tls_distrust}: {entry.rule})"
    )


def chain_warnings(path: list[bytes], at: datetime.datetime, warn_days: int) -> list[str]:
    """Each certificate of a validated path that expires, or whose key loses
    TLS trust, within warn_days of at."""
    from ats_roots.trust.roots import load_der_quietly

    out = []
    for der in path:
        entry = _entry_for(der)
        if entry is not None:
            out += [w for w in entry.soon(at, warn_days) if "expire" not in w]
        cert = load_der_quietly(der)
        left = (cert.not_valid_after_utc - at).days
        if left <= warn_days:
            name = cert.subject.rfc4514_string()
            out.append(f"{name} expires on {cert.not_valid_after_utc:%Y-%m-%d} (in {left} days)")
    return list(dict.fromkeys(out))


def root_warnings(names: list[str], at: datetime.datetime, warn_days: int) -> list[str]:
    """For the ATS roots a store depends on (by name): dates within the window."""
    out = []
    for e in entries():
        if e.name in names:
            out += e.soon(at, warn_days)
    return out


SFS_G2 = "Starfield Services Root Certificate Authority - G2"


def depended_on(held: list[str]) -> list[str]:
    """The roots a store with these (ATS root names) actually depends on: each
    Amazon Root CA it holds, and Starfield Services G2 only when an Amazon
    root is missing (chains then reach it through G2's cross-signs)."""
    amazon = [e.name for e in entries() if not e.legacy and e.name != SFS_G2]
    out = [n for n in held if n in amazon]
    if SFS_G2 in held and any(n not in held for n in amazon):
        out.append(SFS_G2)
    return out


def store_warnings(held: list[str], at: datetime.datetime, warn_days: int) -> list[str]:
    return root_warnings(depended_on(held), at, warn_days)
