"""What audit reports: the trust stores it found, old SDKs, and verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field

from ats_roots.trust.roots import PINS

# "A handful of roots": a store this small that has none of the ATS roots was
# cut down on purpose (pinning). It is named, never patched.
PINNED_MAX = 10
ATS = [(name, pin) for name, pin in PINS.values()]  # Amazon Root CA 1-4, SFS G2
SHORT = ("CA1", "CA2", "CA3", "CA4", "G2")

OK, MISSING, PINNED, UNREADABLE = "ok", "missing", "pinned", "unreadable"
# A mail client or server that sends to SES without verifying the server:
# the roots do not matter, an impostor gets the mail. --fail-on missing has it.
UNVERIFIED = "unverified"
# AWS: SDKs and CLIs released before this date must be upgraded (old_sdks.py).
CUTOFF = "2015-02-05"
GROUPS = ("system", "java", "python", "bundle")
MAIL_VERDICTS = (OK, MISSING, PINNED, UNREADABLE, UNVERIFIED)


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
    _held: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> int:
        return len(self.shas)

    def held(self):
        """trust.keys.Holding per ATS root: by the pinned certificate, or by a
        self-signed certificate of its key (signature checked), or only a
        cross-signed copy (an anchor for partial-chain clients only)."""
        from ats_roots.audit.read import KNOWN_DERS
        from ats_roots.trust import keys

        if all(pin in self.shas for _, pin in ATS):  # the usual case: no parsing
            return [keys.Holding(name, keys.PINNED, pin) for name, pin in ATS]
        key = frozenset(self.shas)
        if self._held is None or self._held[0] != key:  # signature checks: once per content
            ders = [KNOWN_DERS[s] for s in sorted(self.shas) if s in KNOWN_DERS]
            self._held = (key, keys.recognise(ders))
        return self._held[1]

    def ats(self) -> list[bool]:
        return [h.trusted for h in self.held()]

    def key_notes(self) -> list[str]:
        return [f"{h.name}: {h.note}" for h in self.held() if h.note and h.how != "pinned"]

    def expiring(self, at, warn_days: int) -> list[str]:
        """Calendar warnings for the ATS roots this store depends on."""
        from ats_roots.trust import calendar

        if self.absent or not self.readable:
            return []
        return calendar.store_warnings([h.name for h in self.held() if h.trusted], at, warn_days)

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
            "by_key": self.key_notes(),
        }


@dataclass
class MailSetting(Store):
    """A mail program's trust setting and the file or directory it names
    (path; the config file itself for a finding about the whole config)."""

    program: str = ""  # postfix, exim, sendmail, msmtp, ssmtp
    setting: str = ""  # smtp_tls_CAfile, tls_verify_certificates, CACertFile, ...
    config: str = ""  # the file that sets it
    value: str = ""  # as written there
    where: list[str] = field(default_factory=list)  # accounts, transports, services using it
    ses: bool = False  # it is used to send to SES
    fixed: str = ""  # a verdict from the config alone (UNVERIFIED), not from roots

    @property
    def verdict(self) -> str:
        if self.fixed:
            return self.fixed
        verdict = super().verdict
        # A store cut down on purpose is still wrong for a relay to SES.
        return MISSING if verdict == PINNED and self.ses else verdict

    def named(self) -> str:
        """For --fail-on: the file and the setting naming it, or the finding."""
        if self.fixed:
            return f"{self.config} ({self.setting}: {self.fixed})"
        return f"{self.path} ({self.setting} in {self.config})"

    def source(self) -> str:
        """Where the setting comes from, for people."""
        where = f" ({', '.join(self.where)})" if self.where else ""
        return f"{self.setting} in {self.config}{where}"

    def to_json(self) -> dict:
        doc = super().to_json()
        del doc["group"], doc["aliases"]
        if self.fixed:
            doc["roots_total"], doc["ats"] = None, {}
        doc.update(program=self.program, setting=self.setting, config=self.config)
        return {**doc, "value": self.value, "where": self.where, "ses": self.ses}


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
    source: dict  # {"root": DIR} or {"image": REF, "id": ID, "arch": "arm64/v8"}
    family: str
    openssl_dir: str
    stores: list[Store]
    sdks: list[OldSdk]
    stats: dict
    mail: list[MailSetting] = field(default_factory=list)
    warn_days: int = 365  # the calendar's window (--warn-days)
    at: object = None  # when the calendar is read: now, unless a test pins it

    def calendar(self) -> dict[str, list[str]]:
        """Store path -> warnings: a root it depends on expires or loses TLS
        trust within warn_days."""
        import datetime

        at = self.at or datetime.datetime.now(datetime.timezone.utc)
        found = {s.path: s.expiring(at, self.warn_days) for s in [*self.stores, *self.mail]}
        return {path: w for path, w in found.items() if w}

    def with_verdict(self, verdict: str) -> list[Store]:
        return [s for s in self.stores if s.verdict == verdict]

    def findings(self, what: str) -> list[str]:
        """What --fail-on WHAT finds: paths (stores) or package@version (SDKs)."""
        if what == "old-sdk":
            return [f"{s.package} {s.version} ({s.path})" for s in self.sdks]
        if what == "expiring":
            return [f"{path} ({'; '.join(w)})" for path, w in self.calendar().items()]
        found = [s.path for s in self.with_verdict(what)]
        # missing covers mail: a trust file without the roots, an unverified SES relay
        verdicts = {what, UNVERIFIED} if what == MISSING else {what}
        return found + [m.named() for m in self.mail if m.verdict in verdicts]

    def counts(self) -> dict:
        out = {v: len(self.with_verdict(v)) for v in (OK, MISSING, PINNED, UNREADABLE)}
        mail = {v: sum(m.verdict == v for m in self.mail) for v in MAIL_VERDICTS}
        return {
            "stores": len(self.stores),
            **out,
            "old_sdks": len(self.sdks),
            "mail": {"settings": len(self.mail), **mail},
        }
