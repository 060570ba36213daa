"""ssmtp: /etc/ssmtp/ssmtp.conf. TLS_CA_File and TLS_CA_Dir are followed;
ssmtp verifies the server only when one is set (builds with that option:
Debian's ssmtp 2.64 has neither and never verifies), so a mailhub at SES
without them, or without UseTLS/UseSTARTTLS, is reported as unverified."""

from __future__ import annotations

from ats_roots.audit.mail.check import Ctx, is_ses, named, unverified
from ats_roots.audit.model import MailSetting

CONFIG = "/etc/ssmtp/ssmtp.conf"
FILES = {"tls_ca_file": ("TLS_CA_File", "file"), "tls_ca_dir": ("TLS_CA_Dir", "dir")}


def wanted(inner: str) -> bool:
    return inner == CONFIG


def settings(ctx: Ctx) -> list[MailSetting]:
    text = ctx.text(CONFIG)
    if text is None:
        return []
    conf: dict[str, tuple[str, str]] = {}  # lower-case key -> (key as written, value)
    for raw in text.splitlines():
        line = raw.strip()
        key, eq, value = line.partition("=")
        if eq and not line.startswith("#"):
            conf[key.strip().lower()] = (key.strip(), value.strip())
    hub = conf.get("mailhub", ("", ""))[1]
    ses = is_ses(hub.split(":", 1)[0])
    out = []
    for lower, (setting, want) in FILES.items():
        if conf.get(lower, ("", ""))[1]:
            value = conf[lower][1]
            out.append(named(ctx, "ssmtp", setting, CONFIG, value, value, want, [], ses))
    if ses:
        tls = any(conf.get(k, ("", ""))[1].lower() == "yes" for k in ("usetls", "usestarttls"))
        if not tls:
            why = "mailhub is SES and UseTLS and UseSTARTTLS are off: no TLS at all"
            out.append(unverified("ssmtp", "mailhub", CONFIG, hub, why))
        elif not out:
            why = "relay to SES does not verify the server (no TLS_CA_File or TLS_CA_Dir)"
            out.append(unverified("ssmtp", "mailhub", CONFIG, hub, why))
    return out
