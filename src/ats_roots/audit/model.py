"""What audit reports: the trust stores it found, old SDKs, and verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..roots import PINS

# "A handful of roots": a store this small that has none of the ATS roots was
# cut down on purpose (pinning). It is named, never patched.
PINNED_MAX = 10
ATS = [(name, pin) for name, pin in PINS.values()]  # Amazon Root CA 1-4, SFS G2
SHORT = ("CA1", "CA2", "CA3", "CA4", "G2")

OK, MISSING, PINNED, UNREADABLE = "ok", "missing", "pinned", "unreadable"
# AWS: SDKs and CLIs released before this date must be upgraded (old_sdks.py).
CUTOFF = "2015-02-05"
GROUPS = ("system", "java", "python", "bundle")


@dataclass
class Store:
    path: str  # inside the image, symlinks resolved
    kind: str  # e.g. "system bundle", "java jks", "python certifi", "pem bundle"
    group: str  # one of GROUPS
    shas: set[str] = field(default_factory=set)  # SHA-256 of each certificate
    aliases: list[str] = field(default_factory=list)  # symlinks that lead here
    note: str = ""
    absent: bool = False  # a place OpenSSL reads, with nothing there
    readable: bool = True

    @property
    def total(self) -> int:
        return len(self.shas)

    def ats(self) -> list[bool]:
        return [pin in self.shas for _, pin in ATS]

    def missing_roots(self) -> list[str]:
        return [name for name, pin in ATS if pin not in self.shas]

    @property
    def verdict(self) -> str:
        if not self.readable:
            return UNREADABLE
        have = sum(self.ats())
        if have == len(ATS):
            return OK
        if have == 0 and 0 < self.total <= PINNED_MAX and not self.absent:
            return PINNED
        return MISSING

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "group": self.group,
            "aliases": sorted(self.aliases),
            "roots_total": self.total,
            "ats": {name: has for (name, _), has in zip(ATS, self.ats())},
            "missing": self.missing_roots() if self.verdict == MISSING else [],
            "verdict": self.verdict,
            "note": self.note,
        }


@dataclass
class OldSdk:
    ecosystem: str  # python, node, java, ruby
    package: str
    version: str
    path: str
    first_fixed: str  # first release on or after the cut-off
    approximate: bool  # the cut-off version is the one current at the date
    why: str

    def to_json(self) -> dict:
        return {**self.__dict__, "released_before": CUTOFF}


@dataclass
class Report:
    source: dict  # {"root": DIR} or {"image": REF, "id": ID}
    family: str
    openssl_dir: str
    stores: list[Store]
    sdks: list[OldSdk]
    stats: dict

    def with_verdict(self, verdict: str) -> list[Store]:
        return [s for s in self.stores if s.verdict == verdict]

    def findings(self, what: str) -> list[str]:
        """What --fail-on WHAT finds: paths (stores) or package@version (SDKs)."""
        if what == "old-sdk":
            return [f"{s.package} {s.version} ({s.path})" for s in self.sdks]
        return [s.path for s in self.with_verdict(what)]

    def counts(self) -> dict:
        out = {v: len(self.with_verdict(v)) for v in (OK, MISSING, PINNED, UNREADABLE)}
        return {"stores": len(self.stores), **out, "old_sdks": len(self.sdks)}
