"""What the mail programs share: following a file or directory a setting
names (inside the root, as the program would see it), the rows audit reports
for it, SES endpoints, and reading config files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ats_roots.audit.model import PINNED_MAX, UNVERIFIED, MailSetting
from ats_roots.audit.read import KNOWN_DERS, certificates, fingerprints, read_inner
from ats_roots.system import view as store_view
from ats_roots.system.target import Target

# SES's SMTP endpoints: email-smtp.REGION.amazonaws.com, its FIPS variant and
# VPC endpoint names (vpce-....email-smtp.REGION.vpce.amazonaws.com).
SES_HOST = re.compile(
    r"(?:^|\.)email-smtp(?:-fips)?\.[a-z0-9-]+\.(?:vpce\.)?amazonaws\.com\.?$", re.I
)
MAX_CONFIG = 1 << 20  # bigger files are not mail configs


def is_ses(host: str) -> bool:
    return SES_HOST.search(host.strip()) is not None


@dataclass
class Ctx:
    target: Target
    openssl_dir: str = "/usr/lib/ssl"  # where the image's OpenSSL looks by default
    left_out: frozenset[str] = field(default_factory=frozenset)  # not in the sparse copy

    def text(self, inner: str) -> str | None:
        """A config file's text, None if there is none."""
        data = read_inner(self.target, inner)
        if data is None or len(data) > MAX_CONFIG:
            return None
        return data.decode("utf-8", "replace")

    def is_dir(self, inner: str) -> bool:
        return os.path.isdir(self.target.path(self.target.resolve(inner)))

    def exists(self, inner: str) -> bool:
        return os.path.exists(self.target.path(self.target.resolve(inner)))

    def listdir(self, inner: str) -> list[str]:
        try:
            return sorted(os.listdir(self.target.path(self.target.resolve(inner))))
        except OSError:
            return []


def row(path: str, program: str, setting: str, config: str, value: str = "", **kw) -> MailSetting:
    """A mail row: kw are MailSetting's other fields (where, ses, note, ...)."""
    kind = f"{program} {setting}"
    kw["where"] = list(kw.get("where") or [])
    return MailSetting(
        path, kind, "mail", program=program, setting=setting, config=config, value=value, **kw
    )


def named(
    ctx: Ctx,
    program: str,
    setting: str,
    config: str,
    value: str,
    path: str,
    want: str = "either",  # "file", "dir" or "either": what the program accepts
    where: list[str] | None = None,
    ses: bool = False,
    notes: list[str] | None = None,
) -> MailSetting:
    """The row for a setting that names path: which roots are there."""
    found = row(path, program, setting, config, value, where=where, ses=ses)
    said = [_follow(ctx, found, path, want), *(notes or [])]
    if ses and not any(found.ats()) and 0 < found.total <= PINNED_MAX:
        said.append("used for SES, whose certificate chains to an Amazon root")
    found.note = "; ".join(n for n in said if n)
    return found


def _follow(ctx: Ctx, found: MailSetting, path: str, want: str) -> str:
    if not path.startswith("/"):
        found.readable = False
        return f"{path!r} is not an absolute path: ats cannot follow it"
    if path == "/dev/null":
        found.absent = True
        return "/dev/null: no CA is trusted"
    target = ctx.target
    real = target.resolve(path)
    host = target.path(real)
    via = f"-> {real}" if real != path else ""
    if os.path.isdir(host):
        if want == "file":
            found.absent = True
            return _join(via, "a directory, where a file is expected")
        view = store_view.StoreView()
        store_view.read_hash_dir(view, target, real)
        KNOWN_DERS.update(view.der_by_sha)  # for roots recognised by key (model.Store.held)
        found.shas = view.locations.get(real, set())
        if not found.shas:
            return _join(via, "no certificate behind OpenSSL hash links (c_rehash) here")
        return via
    if os.path.isfile(host):
        if want == "dir":
            found.absent = True
            return _join(via, "a file, where a directory is expected")
        data = read_inner(target, real)
        if data is None:
            found.readable = False
            return _join(via, "unreadable, or bigger than any CA file")
        found.shas = fingerprints(certificates(data))
        return _join(via, "" if found.shas else "no PEM certificate in it")
    if real in ctx.left_out or path in ctx.left_out:
        found.readable = False
        return _join(
            via,
            "in the image, but its export kept only files named like trust stores; "
            "audit an unpacked copy with --root",
        )
    found.absent = True
    return _join(via, "file not found")


def unresolved(program, setting, config, value, where, ses, why) -> MailSetting:
    """A value that names no path ats can follow (an expansion, a macro)."""
    return row(
        value, program, setting, config, value, where=where, ses=ses, note=why, readable=False
    )


def trusts_nothing(program, setting, config, value, where, ses, why) -> MailSetting:
    """A setting that leaves the program with no CA at all: the row is the config."""
    return row(config, program, setting, config, value, where=where, ses=ses, note=why, absent=True)


def unverified(program, setting, config, value, why, where=None) -> MailSetting:
    """A finding about the config itself: mail to SES without a verified server."""
    return row(
        config, program, setting, config, value, where=where, ses=True, note=why, fixed=UNVERIFIED
    )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def split_list(value: str) -> list[str]:
    """Postfix-style lists: comma or white space separated."""
    return [v for v in re.split(r"[\s,]+", value.strip()) if v]


def host_of(destination: str) -> str:
    """'[email-smtp.x.amazonaws.com]:587', 'host:25', 'host' -> the host."""
    d = destination.strip()
    if d.startswith("["):
        return d[1:].split("]", 1)[0]
    return d.rsplit(":", 1)[0] if d.count(":") == 1 else d
