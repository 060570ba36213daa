"""Postfix (main.cf, and master.cf's -o overrides of smtp(8) services):
smtp_tls_CAfile, smtp_tls_CApath and smtp_tls_trust_anchor_file are
followed; smtp_tls_security_level (or smtp_tls_policy_maps for the relay)
says whether the relay's certificate is verified at all.

Postfix trusts only what these settings name: tls_append_default_CA is no by
default, so with neither CAfile nor CApath set it trusts no CA, and with
relayhost at SES below level verify any certificate is accepted."""

from __future__ import annotations

from ats_roots.audit.mail.check import (
    Ctx,
    host_of,
    is_ses,
    named,
    split_list,
    trusts_nothing,
    unverified,
)
from ats_roots.audit.mail.postfix_conf import (
    Service,
    expand,
    parse_main,
    parse_master,
    policy_lookup,
    yes,
)
from ats_roots.audit.model import PINNED, MailSetting

CA_KEYS = ("smtp_tls_CAfile", "smtp_tls_CApath", "smtp_tls_trust_anchor_file")
LEVEL_KEYS = ("smtp_tls_security_level", "smtp_tls_policy_maps", "smtp_use_tls")
LEVEL_KEYS += ("smtp_enforce_tls", "smtp_tls_enforce_peername", "relayhost")
BELOW_VERIFY = ("none", "may", "encrypt")  # any certificate is accepted
VERIFY = ("verify", "secure")  # the chain is verified against the CAs named
CONFIG_DIRS = ("/etc/postfix", "/usr/local/etc/postfix")
WANT = {"smtp_tls_CApath": "dir"}  # the others name files


def wanted(inner: str) -> bool:
    """Files an image export keeps: the instances' configs and table sources."""
    if not inner.startswith(("/etc/postfix", "/usr/local/etc/postfix/")):
        return False
    if "sasl_passwd" in inner:  # credentials, never read
        return False
    return not inner.endswith((".db", ".lmdb", ".cdb", ".dir", ".pag"))


def settings(ctx: Ctx) -> list[MailSetting]:
    others = [f"/etc/{n}" for n in ctx.listdir("/etc") if n.startswith("postfix-")]
    out = []
    for confdir in (*CONFIG_DIRS, *others):
        text = ctx.text(confdir + "/main.cf")
        if text is not None:
            out += _Instance(ctx, confdir, parse_main(text)).rows()
    return out


class _Instance:
    def __init__(self, ctx: Ctx, confdir: str, params: dict[str, str]):
        self.ctx = ctx
        self.main_cf, self.master_cf = confdir + "/main.cf", confdir + "/master.cf"
        self.params = {"config_directory": confdir, **params}
        master = parse_master(ctx.text(self.master_cf) or "")
        self.smtp = {s.name: s for s in master if s.command == "smtp" and s.kind == "unix"}
        default = self.get(self.params, "default_transport").split(":", 1)[0]
        self.relay_service = self.smtp.get(default)  # what relayhost mail goes through

    def get(self, params: dict[str, str], key: str) -> str:
        return expand(params.get(key, "$" + key), params).strip()

    def rows(self) -> list[MailSetting]:
        ses = self._ses(self._effective(self.relay_service))
        out = self._ca_rows(self.main_cf, self.params, [], CA_KEYS, ses)
        for service in self.smtp.values():
            keys = [k for k in CA_KEYS if k in service.overrides]
            if keys:
                params, where = self._effective(service), [f"service {service.name}"]
                out += self._ca_rows(self.master_cf, params, where, keys, ses)
        return out + self._relay_rows()

    def _effective(self, service: Service | None) -> dict[str, str]:
        return {**self.params, **(service.overrides if service else {})}

    def _ses(self, params: dict[str, str]) -> bool:
        return any(is_ses(host_of(r)) for r in split_list(self.get(params, "relayhost")))

    def _ca_rows(self, config, params, where, keys, ses) -> list[MailSetting]:
        level = _level(params, self.get)
        notes = []
        if level in BELOW_VERIFY and not ses:
            notes.append(f"smtp_tls_security_level = {level}: servers are not verified")
        if yes(self.get(params, "tls_append_default_CA")):
            notes.append("OpenSSL's default CAs are trusted too (tls_append_default_CA = yes)")
        anchors = bool(self.get(params, "smtp_tls_trust_anchor_file"))
        out = []
        for key in keys:
            extra = self._capath_notes(params, key)
            if anchors and key != "smtp_tls_trust_anchor_file":
                extra.append("not used: smtp_tls_trust_anchor_file is set")
            for path in split_list(self.get(params, key)):
                want = WANT.get(key, "file")
                raw = params.get(key, "")
                row = named(self.ctx, "postfix", key, config, raw, path, want, where, ses)
                row.note = "; ".join(n for n in [row.note, *notes, *extra] if n)
                out.append(row)
        return out

    def _capath_notes(self, params: dict[str, str], key: str) -> list[str]:
        if key != "smtp_tls_CApath":
            return []
        notes = []
        if not self.get(params, "smtp_tls_CAfile"):
            notes.append("smtp_tls_CAfile is unset: this directory is all Postfix trusts")
        service = self.relay_service
        if service and service.chroot == "y":
            queue = self.get(params, "queue_directory")
            notes.append(f"smtp(8) runs chrooted in {queue}: it reads a copy made at start")
        return notes

    def _relay_rows(self) -> list[MailSetting]:
        """About the default transport's relay: to SES unverified, or
        verifying against no CA at all."""
        service = self.relay_service
        params = self._effective(service)
        overridden = service and set(service.overrides) & {*CA_KEYS, *LEVEL_KEYS}
        config = self.master_cf if overridden else self.main_cf
        where = [f"service {service.name}"] if overridden else []
        raw, relays = params.get("relayhost", ""), split_list(self.get(params, "relayhost"))
        level, source = _level(params, self.get), "smtp_tls_security_level"
        maps = self.get(params, "smtp_tls_policy_maps")
        for relay in relays:
            found = policy_lookup(self.ctx, maps, [relay, host_of(relay)]) if maps else None
            if found:
                level = (found[0].split() or ["none"])[0].lower()
                source = f"smtp_tls_policy_maps {found[1]}"
                break
        ses = any(is_ses(host_of(r)) for r in relays)
        out = []
        if ses and level in BELOW_VERIFY:
            why = f"relay to SES does not verify the server ({source} = {level})"
            out.append(unverified("postfix", "relayhost", config, raw, why, where))
        elif ses and level == "fingerprint":
            why = f"{source} = fingerprint: the relay's certificate is pinned, no CA is used"
            out.append(unverified("postfix", "relayhost", config, raw, why, where))
            out[-1].fixed = PINNED
        if level in VERIFY and not any(self.get(params, k) for k in CA_KEYS):
            out.append(self._no_ca(config, params, level, where, ses))
        return out

    def _no_ca(self, config, params, level, where, ses) -> MailSetting:
        if yes(self.get(params, "tls_append_default_CA")):
            cafile = self.ctx.openssl_dir + "/cert.pem"
            notes = ["OpenSSL's default CA file; smtp_tls_CAfile and smtp_tls_CApath are unset"]
            return named(
                self.ctx,
                "postfix",
                "tls_append_default_CA",
                config,
                "yes",
                cafile,
                "file",
                where,
                ses,
                notes,
            )
        why = (
            "unset, and so is smtp_tls_CApath: Postfix trusts no CA "
            f"(tls_append_default_CA = no), so level {level} fails for every server"
        )
        return trusts_nothing("postfix", "smtp_tls_CAfile", config, "", where, ses, why)


def _level(params: dict[str, str], get) -> str:
    level = get(params, "smtp_tls_security_level").lower()
    if level:
        return level
    if yes(get(params, "smtp_enforce_tls")):  # the settings before Postfix 2.3
        return "verify" if yes(get(params, "smtp_tls_enforce_peername")) else "encrypt"
    return "may" if yes(get(params, "smtp_use_tls")) else "none"
