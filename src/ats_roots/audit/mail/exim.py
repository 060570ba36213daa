"""Exim: every active `tls_verify_certificates` (macros substituted,
.ifdef/.ifndef/.else/.endif honoured, continuation lines joined), in the
configuration Exim runs: /etc/exim4/exim4.conf, else Debian's template or
split conf.d as update-exim4.conf.conf selects, else exim.conf elsewhere.

The main section's tls_verify_certificates is for client certificates (Exim
as a server) and is left out. Debian's smarthost (dc_smarthost at SES) goes
through transport remote_smtp_smarthost, which Debian has verify the server
(REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = *, since 4.94-16); with that emptied,
Exim only tries to verify and delivers anyway: reported as unverified."""

from __future__ import annotations

import re

from ats_roots.audit.mail.check import Ctx, is_ses, named, unresolved, unverified
from ats_roots.audit.mail.exim_conf import Line, evaluate, logical_lines
from ats_roots.audit.model import MailSetting

DEBIAN = "/etc/exim4"
UE4CC = DEBIAN + "/update-exim4.conf.conf"
SECTIONS = ("main", "acl", "router", "transport", "retry", "rewrite", "auth")
OTHERS = ("/etc/exim/exim.conf", "/etc/exim.conf", "/usr/exim/configure")
SMARTHOST = "remote_smtp_smarthost"
_EXISTS = re.compile(r"\$\{if\s+exists\s*\{([^{}]*)\}\s*\{([^{}]*)\}\s*\{([^{}]*)\}\s*\}")
_PART = re.compile(r"^[A-Za-z0-9_-]+$")  # update-exim4.conf's run-parts rule


def wanted(inner: str) -> bool:
    if inner.endswith("/passwd.client"):  # credentials, never read
        return False
    return inner.startswith((DEBIAN + "/", "/etc/exim/")) or inner in OTHERS


def settings(ctx: Ctx) -> list[MailSetting]:
    out = []
    debian = _debian(ctx)
    if debian:
        out += _rows(ctx, *debian, _smarthost(ctx))
    for config in OTHERS:
        if ctx.text(config) is not None:
            out += _rows(ctx, [config], {}, "")
    return out


def _debian(ctx: Ctx) -> tuple[list[str], dict[str, str]] | None:
    """Debian's files, in the order update-exim4.conf joins them, and the
    macros it seeds from update-exim4.conf.conf."""
    if ctx.text(DEBIAN + "/exim4.conf") is not None:
        return [DEBIAN + "/exim4.conf"], {}
    dc = _shell_vars(ctx.text(UE4CC) or "")
    macros = {k: v for k, v in dc.items() if k[:1].isupper()}
    kind = dc.get("dc_eximconfig_configtype", "")
    macros.update(DCsmarthost=dc.get("dc_smarthost", ""), DC_eximconfig_configtype=kind)
    if kind:
        macros[f"DCconfig_{kind}"] = "1"
    if dc.get("dc_use_split_config") == "true":
        files = []
        for section in SECTIONS:
            folder = f"{DEBIAN}/conf.d/{section}"
            names = [n for n in ctx.listdir(folder) if _PART.match(n)]
            files += [f"{folder}/{n}" for n in names if not ctx.is_dir(f"{folder}/{n}")]
        return (files, macros) if files else None
    template = DEBIAN + "/exim4.conf.template"
    if ctx.text(template) is None:
        return None
    return [DEBIAN + "/exim4.conf.localmacros", template], macros


def _smarthost(ctx: Ctx) -> str:
    dc = _shell_vars(ctx.text(UE4CC) or "")
    if dc.get("dc_eximconfig_configtype") in ("smarthost", "satellite"):
        return dc.get("dc_smarthost", "")
    return ""


def _rows(ctx: Ctx, files: list[str], macros: dict[str, str], smarthost: str) -> list[MailSetting]:
    lines: list[Line] = []
    for inner in files:
        lines += logical_lines(inner, ctx.text(inner) or "")
    options = evaluate(lines, macros)
    ses = any(is_ses(h) for h in re.findall(r"[A-Za-z0-9][\w.-]*", smarthost))
    out = []
    for opt in options:
        # The main section's tls_verify_certificates verifies clients, not servers.
        if opt.name == "tls_verify_certificates" and opt.section == "transports":
            where = [f"transport {opt.driver}"]
            out += _follow(ctx, opt, where, ses and opt.driver == SMARTHOST)
    if ses:
        relay = [o for o in options if o.driver == SMARTHOST and o.section == "transports"]
        if not any(o.name == "tls_verify_hosts" and o.value.strip(" :") for o in relay):
            config = UE4CC if ctx.text(UE4CC) is not None else files[-1]
            why = (
                f"relay to SES does not verify the server (no tls_verify_hosts in "
                f"transport {SMARTHOST}: Exim tries, and delivers when verification fails)"
            )
            out.append(unverified("exim", "dc_smarthost", config, smarthost, why))
    return out


def _follow(ctx: Ctx, opt, where, ses) -> list[MailSetting]:
    value = opt.value.strip().strip('"')
    if value in ("", "system"):
        return []  # OpenSSL's (or GnuTLS's) default store: the system rows cover it
    m = _EXISTS.fullmatch(value)
    if m:
        value = m.group(2) if ctx.exists(m.group(1)) else m.group(3)
    if "$" in value:
        why = "an expansion ats does not follow"
        return [unresolved("exim", opt.name, opt.file, opt.value, where, ses, why)]
    return [named(ctx, "exim", opt.name, opt.file, opt.value, value, "either", where, ses)]


def _shell_vars(text: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(r"^\s*([A-Za-z_]\w*)=(?:'([^']*)'|\"([^\"]*)\"|(\S*))", text, re.M):
        out[m.group(1)] = next(g for g in m.groups()[1:] if g is not None)
    return out
