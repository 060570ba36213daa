"""msmtp: /etc/msmtprc and every user's ~/.msmtprc or ~/.config/msmtp/config
(under /root and /home). Accounts inherit from `defaults` and from the
accounts they name; each account's tls_trust_file is followed (one row per
file, with the accounts that use it). An account sending to SES without TLS,
with tls_certcheck off, or pinned to one certificate (tls_fingerprint) is
reported: the roots would not be what protects it."""

from __future__ import annotations

import shlex

from ats_roots.audit.mail.check import Ctx, is_ses, named, trusts_nothing, unverified
from ats_roots.audit.model import PINNED, MailSetting

SYSTEM = ("/etc/msmtprc", "/usr/local/etc/msmtprc")
USER_FILES = (".msmtprc", ".config/msmtp/config")


def wanted(inner: str) -> bool:
    if inner in SYSTEM:
        return True
    parts = inner.split("/")
    if inner.startswith("/root/"):
        return "/".join(parts[2:]) in USER_FILES
    return inner.startswith("/home/") and "/".join(parts[3:]) in USER_FILES


def settings(ctx: Ctx) -> list[MailSetting]:
    configs = [(c, None) for c in SYSTEM]
    homes = ["/root"] + [f"/home/{n}" for n in ctx.listdir("/home")]
    configs += [(f"{home}/{f}", home) for home in homes for f in USER_FILES]
    out = []
    for config, home in configs:
        text = ctx.text(config)
        if text is not None:
            out += _rows(ctx, config, home, _accounts(text))
    return out


def _accounts(text: str) -> dict[str, dict[str, str]]:
    defaults: dict[str, str] = {}
    accounts: dict[str, dict[str, str]] = {}
    current = defaults
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, *rest = line.split(None, 1)
        arg = _unquote(rest[0].strip() if rest else "")
        if command == "defaults":
            current = defaults
        elif command == "account":
            name, _, parents = arg.partition(":")
            current = dict(defaults)
            for parent in parents.split(","):
                current.update(accounts.get(parent.strip(), {}))
            accounts[name.strip()] = current
        else:
            current[command] = arg
    return accounts


def _unquote(arg: str) -> str:
    if arg.startswith('"'):
        try:
            return shlex.split(arg)[0]
        except (ValueError, IndexError):
            return arg.strip('"')
    return arg


def _on(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.lower() in ("", "on")  # an empty argument means on


def _rows(ctx, config, home, accounts) -> list[MailSetting]:
    by_file: dict[str, list[str]] = {}
    ses_files: set[str] = set()
    out = []
    for name, acc in accounts.items():
        ses = is_ses(acc.get("host", ""))
        trust = acc.get("tls_trust_file")
        where = [f"account {name}"]
        if ses and not _on(acc.get("tls"), False):
            why = "sends to SES without TLS (tls off)"
            out.append(unverified("msmtp", "tls", config, acc.get("tls", ""), why, where))
        elif ses and not _on(acc.get("tls_certcheck"), True):
            why = "does not check SES's certificate (tls_certcheck off)"
            out.append(unverified("msmtp", "tls_certcheck", config, "off", why, where))
        elif ses and acc.get("tls_fingerprint"):
            why = "one certificate is pinned (tls_fingerprint): the roots are not used"
            row = unverified("msmtp", "tls_fingerprint", config, acc["tls_fingerprint"], why, where)
            row.fixed = PINNED
            out.append(row)
        if trust is not None and trust != "system":
            by_file.setdefault(trust, []).append(name)
            if ses:
                ses_files.add(trust)
    for trust, names in by_file.items():
        where = [f"account {n}" for n in names]
        ses = trust in ses_files
        if trust == "":
            why = "empty: no CA is trusted"
            row = trusts_nothing("msmtp", "tls_trust_file", config, "", where, ses, why)
        else:
            path = trust.replace("~", home, 1) if home and trust.startswith("~") else trust
            row = named(ctx, "msmtp", "tls_trust_file", config, trust, path, "file", where, ses)
        out.append(row)
    return out
