"""Sendmail: confCACERT and confCACERT_PATH in the m4 sources (sendmail.mc,
submit.mc and what they include, Debian's /etc/mail/tls/starttls.m4), and
CACertFile and CACertPath in the compiled sendmail.cf and submit.cf.

Sendmail verifies a server's certificate but delivers whatever the result
unless the access map says `TLS_Srv:HOST VERIFY`; a smart host at SES
without that rule is reported as unverified."""

from __future__ import annotations

import re

from ats_roots.audit.mail.check import Ctx, is_ses, named, unresolved, unverified
from ats_roots.audit.model import MailSetting

MAIL = "/etc/mail"
SOURCES = (f"{MAIL}/sendmail.mc", f"{MAIL}/submit.mc")
COMPILED = (f"{MAIL}/sendmail.cf", f"{MAIL}/submit.cf", "/etc/sendmail.cf")
ACCESS = f"{MAIL}/access"
M4_SETTINGS = {"confCACERT": "file", "confCACERT_PATH": "dir"}
CF_SETTINGS = {"CACertFile": "file", "CACertPath": "dir"}
_DEFINE = re.compile(r"define\(\s*`?(\w+)'?\s*,\s*(?:`([^']*)'|([^)]*?))\s*\)")
_INCLUDE = re.compile(r"include\(\s*`?([^')]+)'?\s*\)")
_CF = re.compile(r"^O\s*(CACertFile|CACertPath)\s*=\s*(.*?)\s*$", re.M)
_SMART_CF = re.compile(r"^DS(.*)$", re.M)


def wanted(inner: str) -> bool:
    if inner in COMPILED or inner == ACCESS:
        return True
    return inner.startswith(MAIL + "/") and inner.endswith((".mc", ".m4"))


def settings(ctx: Ctx) -> list[MailSetting]:
    out = []
    for source in SOURCES:
        defines = _m4_defines(ctx, source, {}, 0)
        if defines:
            ses = _ses_host(_expand(defines.get("SMART_HOST", ("", ""))[1], defines))
            out += _m4_rows(ctx, source, defines, ses)
            out += _relay(ctx, source, ses, defines.get("SMART_HOST", ("", ""))[1])
    for compiled in COMPILED:
        text = ctx.text(compiled)
        if text is None:
            continue
        smart = (_SMART_CF.findall(text) or [""])[-1]
        ses = _ses_host(smart)
        for setting, value in dict(_CF.findall(text)).items():
            out.append(_row(ctx, setting, compiled, value, value, CF_SETTINGS[setting], ses))
        out += _relay(ctx, compiled, ses, smart)
    return out


def _m4_defines(ctx: Ctx, inner: str, defines: dict, depth: int) -> dict[str, tuple[str, str]]:
    """name -> (file, value) of every define, includes followed, last wins."""
    text = ctx.text(inner)
    if text is None or depth > 5:
        return defines
    text = re.sub(r"\bdnl\b.*", "", text)
    events = [(m.start(), "d", m) for m in _DEFINE.finditer(text)]
    events += [(m.start(), "i", m) for m in _INCLUDE.finditer(text)]
    for _, kind, m in sorted(events, key=lambda e: e[0]):
        if kind == "d":
            defines[m.group(1)] = (inner, m.group(2) if m.group(2) is not None else m.group(3))
        elif m.group(1).strip().startswith("/etc/"):  # not sendmail's own m4 library
            _m4_defines(ctx, m.group(1).strip(), defines, depth + 1)
    return defines


def _expand(value: str, defines: dict) -> str:
    def one(m: re.Match) -> str:
        return defines[m.group(0)][1] if m.group(0) in defines else m.group(0)

    for _ in range(5):  # CERT_DIR/CAcert.pem, CERT_DIR defined in terms of another
        new = re.sub(r"\b[A-Za-z_]\w*\b", one, value)
        if new == value:
            break
        value = new
    return value


def _m4_rows(ctx, source, defines, ses) -> list[MailSetting]:
    out = []
    for setting, want in M4_SETTINGS.items():
        if setting in defines:
            file, raw = defines[setting]
            value = _expand(raw, defines).strip()
            row = _row(ctx, setting, file, raw, value, want, ses)
            if file != source:
                row.where.append(f"included by {source}")
            out.append(row)
    return out


def _row(ctx, setting, config, raw, value, want, ses) -> MailSetting:
    where = ["submit (the MSP)"] if "/submit." in config else []
    if "$" in value or not value.startswith("/"):
        return unresolved("sendmail", setting, config, raw, where, ses, "a value ats cannot follow")
    return named(ctx, "sendmail", setting, config, raw, value, want, where, ses)


def _ses_host(value: str) -> bool:
    return any(is_ses(h) for h in re.findall(r"[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,}", value))


def _relay(ctx: Ctx, config: str, ses: bool, smart: str) -> list[MailSetting]:
    """A smart host at SES, and no access rule that makes verification count."""
    if not ses:
        return []
    rules = re.findall(r"^TLS_Srv:(\S+)\s+VERIFY", ctx.text(ACCESS) or "", re.M | re.I)
    hosts = re.findall(r"[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,}", smart)
    if any(h.lower().endswith(r.lower().lstrip(".")) for h in hosts for r in rules):
        return []
    why = f"relay to SES does not verify the server (no TLS_Srv:HOST VERIFY in {ACCESS})"
    setting = "DS" if config.endswith(".cf") else "SMART_HOST"
    return [unverified("sendmail", setting, config, smart.strip(), why)]
