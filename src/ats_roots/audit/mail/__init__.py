"""Mail servers and clients: the trust settings of Postfix, Exim, Sendmail,
msmtp and ssmtp, each followed to the file or directory it names and checked
for the ATS roots, and relays to SES that do not verify the server at all.
One module per program; check.py is what they share."""

from __future__ import annotations

from ats_roots.audit.mail import exim, msmtp, postfix, sendmail, ssmtp
from ats_roots.audit.mail.check import Ctx
from ats_roots.audit.model import MailSetting
from ats_roots.system.target import Target

PROGRAMS = (postfix, exim, sendmail, msmtp, ssmtp)
# Where configs can be, for the export's quick test before the programs' own.
_ROOTS = ("/etc/", "/usr/local/etc/", "/usr/exim/", "/root/", "/home/")


def is_config(inner: str) -> bool:
    """A file an image export must keep so the programs' settings can be read."""
    return inner.startswith(_ROOTS) and any(p.wanted(inner) for p in PROGRAMS)


def settings(
    target: Target, openssl_dir: str, left_out: frozenset[str] = frozenset()
) -> list[MailSetting]:
    ctx = Ctx(target, openssl_dir, left_out)
    out: list[MailSetting] = []
    for program in PROGRAMS:
        out += program.settings(ctx)
    return out
