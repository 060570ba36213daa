"""`ats audit` and mail programs: Postfix, Exim, Sendmail, msmtp and ssmtp
configs in synthetic roots, each trust setting followed to the file it names
and checked for the ATS roots; relays to SES that verify nothing; the image
export keeps what is needed; and one image built FROM ses-clients."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import uuid

import audit_plants as plants
import pytest
from helpers import ats, docker_engine

from ats_roots.audit import audit_root, table, to_json
from ats_roots.audit.model import MISSING, OK, PINNED, UNREADABLE, UNVERIFIED
from ats_roots.audit.scan import audit_target
from ats_roots.audit.sparse import materialize
from ats_roots.system.target import Target

MAIN_CF = "/etc/postfix/main.cf"
LACKING = "/etc/postfix/ca-lacking-ats.pem"
SYSTEM = "/etc/ssl/certs/ca-certificates.crt"
SES = "[email-smtp.us-east-1.amazonaws.com]:587"


@pytest.fixture(scope="module")
def bundles():
    """The system bundle (with the ATS roots), a big one without them, and one
    corporate root (pinned, unless the config sends to SES)."""
    cas = plants.test_cas(12)
    return {
        "good": plants.pem_bundle(cas) + b"".join(plants.ats_pems()),
        "lacking": plants.pem_bundle(cas),
        "one": plants.pem_bundle(plants.test_cas(1, "Corp Mail Test")),
    }


def root_with(tmp_path, files: dict, links: dict | None = None) -> str:
    root = str(tmp_path / "root")
    data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    plants.Plant("mail", "", data, links or {}).write(root)
    return root


def mail(root: str) -> list:
    return audit_root(root, None).mail


def one(rows, **want):
    found = [r for r in rows if all(getattr(r, k) == v for k, v in want.items())]
    assert len(found) == 1, [(r.kind, r.path, r.verdict, r.note) for r in rows]
    return found[0]


def postfix(tmp_path, bundles, main_cf: str, files: dict | None = None) -> list:
    base = {SYSTEM: bundles["good"], LACKING: bundles["one"], MAIN_CF: main_cf}
    return mail(root_with(tmp_path, {**base, **(files or {})}))


# --- Postfix ----------------------------------------------------------------


def test_postfix_system_bundle_is_ok_and_secure_relay_is_no_finding(tmp_path, bundles):
    rows = postfix(
        tmp_path,
        bundles,
        f"relayhost = {SES}\nsmtp_tls_security_level = secure\nsmtp_tls_CAfile = {SYSTEM}\n",
    )
    row = one(rows)
    assert (row.kind, row.path, row.verdict, row.total) == (
        "postfix smtp_tls_CAfile",
        SYSTEM,
        OK,
        17,
    )
    assert (row.setting, row.config, row.value, row.ses) == (
        "smtp_tls_CAfile",
        MAIN_CF,
        SYSTEM,
        True,
    )


def test_postfix_bundle_lacking_the_roots_names_file_and_setting(tmp_path, bundles):
    main_cf = f"relayhost = {SES}\nsmtp_tls_security_level = secure\nsmtp_tls_CAfile = {LACKING}\n"
    root = root_with(tmp_path, {MAIN_CF: main_cf, LACKING: bundles["one"]})
    report = audit_root(root, None)
    row = one(report.mail)
    # One corporate root would be "pinned"; for a relay to SES it is simply missing.
    assert (row.path, row.setting, row.config, row.verdict) == (
        LACKING,
        "smtp_tls_CAfile",
        MAIN_CF,
        MISSING,
    )
    # (the root has no system store either: those are missing too)
    assert report.findings("missing")[-1] == f"{LACKING} (smtp_tls_CAfile in {MAIN_CF})"
    lines = table(report)
    assert any(line.startswith(LACKING) and line.endswith("MISSING") for line in lines)
    assert (
        f"  ! smtp_tls_CAfile in {MAIN_CF}: used for SES, whose certificate chains to an "
        "Amazon root"
    ) in lines
    doc = to_json(report, ["missing"])
    [entry] = doc["mail"]
    assert entry["setting"] == "smtp_tls_CAfile" and entry["config"] == MAIN_CF
    assert entry["path"] == LACKING and entry["verdict"] == MISSING
    assert len(entry["missing"]) == 5 and entry["roots_total"] == 1
    assert doc["summary"]["mail"]["missing"] == 1 and doc["failed"]


def test_postfix_one_corporate_root_without_ses_is_pinned(tmp_path, bundles):
    main_cf = f"relayhost = [mail.corp.example]:25\nsmtp_tls_CAfile = {LACKING}\n"
    row = one(postfix(tmp_path, bundles, main_cf + "smtp_tls_security_level = secure\n"))
    assert (row.verdict, row.ses) == (PINNED, False)


def test_postfix_big_bundle_lacking_roots_is_missing(tmp_path, bundles):
    corp = {"/etc/postfix/corp.pem": bundles["lacking"]}
    row = one(postfix(tmp_path, bundles, "smtp_tls_CAfile = /etc/postfix/corp.pem\n", corp))
    assert (row.verdict, row.total) == (MISSING, 12)
    assert "smtp_tls_security_level = none: servers are not verified" in row.note


@pytest.mark.parametrize("level", ["encrypt", "may", "none"])
def test_postfix_relay_to_ses_below_verify_is_reported(tmp_path, bundles, level):
    rows = postfix(
        tmp_path,
        bundles,
        f"relayhost = {SES}\nsmtp_tls_security_level = {level}\nsmtp_tls_CAfile = {SYSTEM}\n",
    )
    finding = one(rows, verdict=UNVERIFIED)
    assert (finding.path, finding.kind, finding.value) == (MAIN_CF, "postfix relayhost", SES)
    assert finding.note == (
        f"relay to SES does not verify the server (smtp_tls_security_level = {level})"
    )
    assert one(rows, setting="smtp_tls_CAfile").verdict == OK


@pytest.mark.parametrize("level", ["verify", "secure", "dane"])
def test_postfix_relay_to_ses_at_verifying_levels_is_no_finding(tmp_path, bundles, level):
    main_cf = f"relayhost = {SES}\nsmtp_tls_security_level = {level}\nsmtp_tls_CAfile = {SYSTEM}\n"
    row = one(postfix(tmp_path, bundles, main_cf))
    assert (row.setting, row.verdict, row.note) == ("smtp_tls_CAfile", OK, "")


def test_postfix_fingerprint_level_to_ses_is_pinned(tmp_path, bundles):
    main_cf = f"relayhost = {SES}\nsmtp_tls_security_level = fingerprint\n"
    finding = one(postfix(tmp_path, bundles, main_cf))
    assert (finding.setting, finding.verdict) == ("relayhost", PINNED)
    assert "the relay's certificate is pinned, no CA is used" in finding.note


def test_postfix_unverified_relay_fails_the_cli(tmp_path, bundles):
    main_cf = f"relayhost = {SES}\nsmtp_tls_security_level = encrypt\nsmtp_tls_CAfile = {SYSTEM}\n"
    root = root_with(tmp_path, {MAIN_CF: main_cf, SYSTEM: bundles["good"]})
    proc = ats("audit", "--root", root, "--fail-on", "missing", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["fail_on"]["missing"] == [f"{MAIN_CF} (relayhost: unverified)"]
    assert f"{MAIN_CF} (relayhost: unverified)" in proc.stderr
    proc = ats("audit", "--root", root)
    assert proc.returncode == 0
    assert "relay to SES does not verify the server (smtp_tls_security_level = encrypt)" in (
        proc.stdout
    )


def test_postfix_named_file_that_does_not_exist(tmp_path, bundles):
    row = one(postfix(tmp_path, bundles, "smtp_tls_CAfile = /etc/postfix/nope.pem\n"))
    assert (row.path, row.verdict, row.absent) == ("/etc/postfix/nope.pem", MISSING, True)
    assert row.note.startswith("file not found")


def test_postfix_continuation_comments_variables_and_last_wins(tmp_path, bundles):
    main_cf = (
        "# smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt\n"
        "smtp_tls_security_level = secure\n"
        "relayhost =\n"
        "    [email-smtp.eu-west-1.amazonaws.com]:2587\n"
        "  # a comment line in between\n"
        "smtp_tls_CAfile =\n"
        "\t$config_directory/ca-lacking-ats.pem\n"
        "smtp_tls_security_level = encrypt\n"
    )
    rows = postfix(tmp_path, bundles, main_cf)
    ca = one(rows, setting="smtp_tls_CAfile")
    assert (ca.path, ca.value, ca.verdict) == (
        LACKING,
        "$config_directory/ca-lacking-ats.pem",
        MISSING,
    )
    finding = one(rows, verdict=UNVERIFIED)
    assert finding.value == "[email-smtp.eu-west-1.amazonaws.com]:2587"
    assert finding.note.endswith("(smtp_tls_security_level = encrypt)")


def test_postfix_symlinked_bundle_resolves_inside_the_root(tmp_path, bundles):
    files = {SYSTEM: bundles["good"], MAIN_CF: "smtp_tls_CAfile = /etc/postfix/ca.pem\n"}
    # An absolute link: the root's file, never the host's.
    row = one(mail(root_with(tmp_path, files, {"/etc/postfix/ca.pem": SYSTEM})))
    assert (row.path, row.verdict) == ("/etc/postfix/ca.pem", OK)
    assert f"-> {SYSTEM}" in row.note


def test_postfix_capath_only_and_chroot(tmp_path, bundles):
    from ats_roots import _portable

    files = {
        MAIN_CF: "smtp_tls_CApath = /etc/postfix/certs\nsmtp_tls_security_level = verify\n",
        "/etc/postfix/master.cf": "smtp      unix  -       -       y       -       -       smtp\n",
    }
    links = {}
    for i, pem in enumerate(plants.ats_pems()):
        der = _portable.pem_blocks(pem)[0][1]
        files[f"/usr/share/ca-certificates/ats/{i}.crt"] = pem
        links[f"/etc/postfix/certs/{_portable.subject_hash(der)}.0"] = (
            f"/usr/share/ca-certificates/ats/{i}.crt"
        )
    row = one(mail(root_with(tmp_path, files, links)))
    assert (row.setting, row.path, row.verdict, row.total) == (
        "smtp_tls_CApath",
        "/etc/postfix/certs",
        OK,
        5,
    )
    assert "smtp_tls_CAfile is unset: this directory is all Postfix trusts" in row.note
    assert "smtp(8) runs chrooted in /var/spool/postfix" in row.note


def test_postfix_capath_without_hash_links(tmp_path, bundles):
    unhashed = {"/etc/postfix/certs/corp.pem": bundles["good"]}
    row = one(postfix(tmp_path, bundles, "smtp_tls_CApath = /etc/postfix/certs\n", unhashed))
    assert (row.verdict, row.total) == (MISSING, 0)
    assert "no certificate behind OpenSSL hash links" in row.note


def test_postfix_verifying_with_no_ca_at_all(tmp_path, bundles):
    rows = postfix(tmp_path, bundles, f"relayhost = {SES}\nsmtp_tls_security_level = secure\n")
    row = one(rows)
    assert (row.path, row.setting, row.verdict, row.absent) == (
        MAIN_CF,
        "smtp_tls_CAfile",
        MISSING,
        True,
    )
    assert "Postfix trusts no CA (tls_append_default_CA = no)" in row.note


def test_postfix_master_cf_override_and_policy_map(tmp_path, bundles):
    master = (
        "smtp      unix  -       -       n       -       -       smtp\n"
        "  -o smtp_tls_security_level=encrypt\n"
        "relay     unix  -       -       n       -       -       smtp\n"
        "  -o { smtp_tls_CAfile = /etc/postfix/ca-lacking-ats.pem }\n"
    )
    main_cf = f"relayhost = {SES}\nsmtp_tls_security_level = secure\nsmtp_tls_CAfile = {SYSTEM}\n"
    rows = postfix(tmp_path, bundles, main_cf, {"/etc/postfix/master.cf": master})
    finding = one(rows, verdict=UNVERIFIED)
    assert (finding.config, finding.where) == ("/etc/postfix/master.cf", ["service smtp"])
    relay = one(rows, path=LACKING)
    assert (relay.config, relay.where, relay.verdict) == (
        "/etc/postfix/master.cf",
        ["service relay"],
        MISSING,
    )
    # A TLS policy for the relay overrides the global level (hash: reads the text source).
    main_cf = (
        f"relayhost = {SES}\nsmtp_tls_security_level = may\nsmtp_tls_CAfile = {SYSTEM}\n"
        "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy\n"
    )
    rows = postfix(tmp_path / "p", bundles, main_cf, {"/etc/postfix/tls_policy": f"{SES} secure\n"})
    assert [r.verdict for r in rows] == [OK]
    main_cf = main_cf.replace("hash:/etc/postfix/tls_policy", f"inline:{{ {SES}=encrypt }}")
    finding = one(postfix(tmp_path / "i", bundles, main_cf), verdict=UNVERIFIED)
    assert f"(smtp_tls_policy_maps inline:{{ {SES}=encrypt }} = encrypt)" in finding.note


def test_postfix_legacy_smtp_use_tls_is_may(tmp_path, bundles):
    rows = postfix(tmp_path, bundles, f"relayhost = {SES}\nsmtp_use_tls = yes\n")
    assert one(rows).note.endswith("(smtp_tls_security_level = may)")


def test_postfix_second_instance(tmp_path, bundles):
    root = root_with(
        tmp_path,
        {
            MAIN_CF: f"smtp_tls_CAfile = {SYSTEM}\n",
            SYSTEM: bundles["good"],
            "/etc/postfix-out/main.cf": "smtp_tls_CAfile = $config_directory/ca.pem\n",
        },
    )
    rows = mail(root)
    assert [(r.path, r.verdict) for r in rows] == [
        (SYSTEM, OK),
        ("/etc/postfix-out/ca.pem", MISSING),
    ]


# --- Exim -------------------------------------------------------------------

UE4CC = "/etc/exim4/update-exim4.conf.conf"
TEMPLATE = "/etc/exim4/exim4.conf.template"
# The shape of Debian's template where it matters (transport macros, .ifdef
# around the smarthost's TLS options, the main section's exists idiom).
DEBIAN_TEMPLATE = """\
.ifndef CONFDIR
CONFDIR = /etc/exim4
.endif
.ifdef MAIN_TLS_ENABLE
.ifndef MAIN_TLS_VERIFY_CERTIFICATES
MAIN_TLS_VERIFY_CERTIFICATES = ${if exists{/etc/ssl/certs/ca-certificates.crt}\\
                                    {/etc/ssl/certs/ca-certificates.crt}\\
                                    {/dev/null}}
.endif
tls_verify_certificates = MAIN_TLS_VERIFY_CERTIFICATES
.endif
begin transports
.ifndef REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS
  REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = *
.endif
remote_smtp:
  driver = smtp
remote_smtp_smarthost:
  driver = smtp
  # a comment
.ifdef REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES
  tls_verify_certificates = REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES
.endif
.ifdef REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS
  tls_verify_hosts = REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS
.endif
begin retry
"""


def ue4cc(split: bool = False, smarthost: str = "email-smtp.us-east-1.amazonaws.com::587") -> str:
    return (
        "dc_eximconfig_configtype='satellite'\n"
        f"dc_smarthost='{smarthost}'\n"
        f"dc_use_split_config='{'true' if split else 'false'}'\n"
    )


def test_exim_debian_template_with_local_macros(tmp_path, bundles):
    macros = (
        "CERTS = /etc/exim4/certs\nREMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES = CERTS/ca.pem\n"
    )
    root = root_with(
        tmp_path,
        {
            UE4CC: ue4cc(),
            TEMPLATE: DEBIAN_TEMPLATE,
            "/etc/exim4/exim4.conf.localmacros": "MAIN_TLS_ENABLE = 1\n" + macros,
            "/etc/exim4/certs/ca.pem": bundles["one"],
        },
    )
    row = one(mail(root))  # the main section's setting (client certificates) is left out
    assert (row.kind, row.path, row.config, row.where, row.verdict) == (
        "exim tls_verify_certificates",
        "/etc/exim4/certs/ca.pem",
        TEMPLATE,
        ["transport remote_smtp_smarthost"],
        MISSING,  # one root, and the smarthost is SES
    )
    assert row.value == "/etc/exim4/certs/ca.pem"


def test_exim_debian_default_verifies_the_smarthost(tmp_path):
    root = root_with(tmp_path, {UE4CC: ue4cc(), TEMPLATE: DEBIAN_TEMPLATE})
    assert mail(root) == []  # the system store (tls_verify_certificates = system)


def test_exim_smarthost_to_ses_without_verify_hosts(tmp_path):
    root = root_with(
        tmp_path,
        {
            UE4CC: ue4cc(),
            TEMPLATE: DEBIAN_TEMPLATE,
            "/etc/exim4/exim4.conf.localmacros": "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS =\n",
        },
    )
    finding = one(mail(root))
    assert (finding.verdict, finding.config, finding.setting) == (UNVERIFIED, UE4CC, "dc_smarthost")
    assert "no tls_verify_hosts in transport remote_smtp_smarthost" in finding.note
    other = root_with(
        tmp_path / "other",
        {
            UE4CC: ue4cc(smarthost="smtp.corp.example::587"),
            TEMPLATE: DEBIAN_TEMPLATE,
            "/etc/exim4/exim4.conf.localmacros": "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS =\n",
        },
    )
    assert mail(other) == []


def test_exim_debian_split_config(tmp_path, bundles):
    transport = DEBIAN_TEMPLATE.split("begin transports\n")[1].split("begin retry")[0]
    root = root_with(
        tmp_path,
        {
            UE4CC: ue4cc(split=True),
            TEMPLATE: "",  # not used: dc_use_split_config
            "/etc/exim4/conf.d/main/000_localmacros": (
                f"REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES = {SYSTEM}\n"
            ),
            "/etc/exim4/conf.d/transport/00_header": "begin transports\n",
            "/etc/exim4/conf.d/transport/30_smarthost": transport,
            "/etc/exim4/conf.d/transport/30_smarthost.dpkg-old": "tls_verify_certificates = /x\n",
            SYSTEM: bundles["good"],
        },
    )
    row = one(mail(root))
    assert (row.path, row.config, row.verdict) == (
        SYSTEM,
        "/etc/exim4/conf.d/transport/30_smarthost",
        OK,
    )


def test_exim_conf_elsewhere_and_the_exists_idiom(tmp_path, bundles):
    conf = (
        "begin transports\nremote_smtp:\n  driver = smtp\n"
        "  tls_verify_certificates = ${if exists{/etc/exim/ca.pem}\\\n"
        "        {/etc/exim/ca.pem}{/dev/null}}\n"
        "relay:\n  driver = smtp\n  tls_verify_certificates = ${lookup{x}lsearch{/y}}\n"
    )
    root = root_with(tmp_path, {"/etc/exim/exim.conf": conf})
    rows = mail(root)
    null = one(rows, path="/dev/null")
    assert (null.verdict, null.where) == (MISSING, ["transport remote_smtp"])
    lookup = one(rows, where=["transport relay"])
    assert (lookup.verdict, lookup.note) == (UNREADABLE, "an expansion ats does not follow")
    root = root_with(
        tmp_path / "b", {"/etc/exim/exim.conf": conf, "/etc/exim/ca.pem": bundles["good"]}
    )
    assert one(mail(root), path="/etc/exim/ca.pem").verdict == OK


# --- Sendmail ---------------------------------------------------------------

SENDMAIL_MC = """\
divert(-1)dnl
include(`/usr/share/sendmail/cf/m4/cf.m4')dnl
define(`SMART_HOST', `[email-smtp.us-east-1.amazonaws.com]')dnl
dnl define(`confCACERT', `/nope.pem')dnl
include(`/etc/mail/tls/starttls.m4')dnl
"""
STARTTLS_M4 = """\
define(`CERT_DIR', `/etc/mail/tls')dnl
define(`confCACERT_PATH', `/etc/ssl/certs')dnl
define(`confCACERT', `CERT_DIR/ca-lacking.pem')dnl
"""


def test_sendmail_mc_with_include_and_m4_macros(tmp_path, bundles):
    root = root_with(
        tmp_path,
        {
            "/etc/mail/sendmail.mc": SENDMAIL_MC,
            "/etc/mail/tls/starttls.m4": STARTTLS_M4,
            "/etc/mail/tls/ca-lacking.pem": bundles["lacking"],
            "/etc/mail/access": "TLS_Srv:email-smtp.us-east-1.amazonaws.com VERIFY\n",
        },
    )
    rows = mail(root)
    cacert = one(rows, setting="confCACERT")
    assert (cacert.path, cacert.config, cacert.value, cacert.verdict) == (
        "/etc/mail/tls/ca-lacking.pem",
        "/etc/mail/tls/starttls.m4",
        "CERT_DIR/ca-lacking.pem",
        MISSING,
    )
    assert cacert.where == ["included by /etc/mail/sendmail.mc"]
    capath = one(rows, setting="confCACERT_PATH")
    assert (capath.path, capath.verdict) == ("/etc/ssl/certs", MISSING)  # no hash links here
    assert not [r for r in rows if r.verdict == UNVERIFIED]  # the access map says VERIFY


def test_sendmail_cf_and_smart_host_without_verify_rule(tmp_path, bundles):
    cf = (
        "DS[email-smtp.us-west-2.amazonaws.com]\n"
        "O CACertPath=/etc/ssl/certs\n"
        "O CACertFile=/etc/ssl/certs/ca-certificates.crt\n"
    )
    root = root_with(tmp_path, {"/etc/mail/sendmail.cf": cf, SYSTEM: bundles["good"]})
    rows = mail(root)
    assert one(rows, setting="CACertFile").verdict == OK
    finding = one(rows, verdict=UNVERIFIED)
    assert (finding.config, finding.setting, finding.value) == (
        "/etc/mail/sendmail.cf",
        "DS",
        "[email-smtp.us-west-2.amazonaws.com]",
    )
    assert "no TLS_Srv:HOST VERIFY in /etc/mail/access" in finding.note


# --- msmtp ------------------------------------------------------------------

MSMTPRC = """\
# system-wide: every account inherits these
defaults
tls            on
tls_trust_file /etc/ssl/certs/ca-certificates.crt

account        ses
host           email-smtp.us-east-1.amazonaws.com
port           587

account        corp
host           smtp.corp.example
tls_trust_file "/etc/msmtp/corp ca.pem"

account        corp-465 : corp
port           465
tls_starttls   off

account        ses-plain
host           email-smtp.us-east-1.amazonaws.com
tls            off

account        ses-nocheck : ses
tls_certcheck  off

account default : ses
"""


def test_msmtp_accounts_inherit_and_each_trust_file_is_followed(tmp_path, bundles):
    root = root_with(
        tmp_path,
        {
            "/etc/msmtprc": MSMTPRC,
            SYSTEM: bundles["good"],
            "/etc/msmtp/corp ca.pem": bundles["lacking"],
            "/home/alice/.msmtprc": (
                "account ses\nhost email-smtp.eu-west-1.amazonaws.com\ntls on\n"
                "tls_trust_file ~/certs/ses.pem\n"
            ),
            "/home/alice/certs/ses.pem": bundles["one"],
        },
    )
    rows = mail(root)
    system = one(rows, path=SYSTEM)
    assert system.verdict == OK
    assert system.where == [
        "account ses",
        "account ses-plain",
        "account ses-nocheck",
        "account default",
    ]
    corp = one(rows, path="/etc/msmtp/corp ca.pem")
    assert (corp.verdict, corp.where, corp.ses) == (
        MISSING,
        ["account corp", "account corp-465"],
        False,
    )
    plain = one(rows, where=["account ses-plain"], verdict=UNVERIFIED)
    assert plain.note == "sends to SES without TLS (tls off)"
    nocheck = one(rows, where=["account ses-nocheck"], verdict=UNVERIFIED)
    assert "tls_certcheck off" in nocheck.note
    alice = one(rows, config="/home/alice/.msmtprc")
    assert (alice.path, alice.value, alice.verdict) == (
        "/home/alice/certs/ses.pem",
        "~/certs/ses.pem",
        MISSING,  # one root, SES account
    )


def test_msmtp_fingerprint_pin_and_empty_trust_file(tmp_path):
    rc = (
        "account a\nhost email-smtp.us-east-1.amazonaws.com\ntls on\ntls_fingerprint 01:02\n"
        "account b\nhost smtp.corp.example\ntls on\ntls_trust_file\n"
    )
    rows = mail(root_with(tmp_path, {"/root/.config/msmtp/config": rc}))
    assert one(rows, setting="tls_fingerprint").verdict == PINNED
    empty = one(rows, setting="tls_trust_file")
    assert (empty.path, empty.verdict, empty.note) == (
        "/root/.config/msmtp/config",
        MISSING,
        "empty: no CA is trusted",
    )


# --- ssmtp ------------------------------------------------------------------

SSMTP = "/etc/ssmtp/ssmtp.conf"


def test_ssmtp_ca_file(tmp_path, bundles):
    conf = "mailhub=email-smtp.us-east-1.amazonaws.com:587\nUseSTARTTLS=YES\n"
    root = root_with(tmp_path, {SSMTP: conf + f"TLS_CA_File={SYSTEM}\n", SYSTEM: bundles["good"]})
    row = one(mail(root))
    assert (row.kind, row.path, row.verdict) == ("ssmtp TLS_CA_File", SYSTEM, OK)
    root = root_with(
        tmp_path / "b",
        {SSMTP: conf + "tls_ca_file=/etc/ssmtp/ca.pem\n", "/etc/ssmtp/ca.pem": bundles["lacking"]},
    )
    row = one(mail(root))
    assert (row.path, row.setting, row.config, row.verdict) == (
        "/etc/ssmtp/ca.pem",
        "TLS_CA_File",
        SSMTP,
        MISSING,
    )


def test_ssmtp_to_ses_without_ca_file_or_tls(tmp_path):
    conf = "mailhub=email-smtp.us-east-1.amazonaws.com:587\nUseSTARTTLS=YES\n"
    finding = one(mail(root_with(tmp_path, {SSMTP: conf})))
    assert finding.verdict == UNVERIFIED and "no TLS_CA_File or TLS_CA_Dir" in finding.note
    conf = "# no TLS\nmailhub=email-smtp.us-east-1.amazonaws.com:25\n"
    finding = one(mail(root_with(tmp_path / "b", {SSMTP: conf})))
    assert finding.verdict == UNVERIFIED and "no TLS at all" in finding.note
    assert mail(root_with(tmp_path / "c", {SSMTP: "mailhub=smtp.corp.example\n"})) == []


# --- the image export keeps what mail needs ---------------------------------


def test_export_keeps_mail_configs_and_pem_files_under_etc(tmp_path, bundles):
    files = {
        MAIN_CF: f"relayhost = {SES}\nsmtp_tls_security_level = secure\n"
        "smtp_tls_CAfile = /etc/postfix/roots\n",
        "/etc/postfix/roots": bundles["good"],  # no store-like name: kept as PEM under /etc
        "/etc/postfix/master.cf": "smtp unix - - y - - smtp\n",
        "/etc/postfix/sasl_passwd": "[h]:587 user:secret\n",
        "/etc/postfix/sasl_passwd.db": b"\0" * 64,
        "/etc/exim4/passwd.client": "*:user:secret\n",
        "/etc/msmtprc": "account a\nhost h\ntls_trust_file /opt/mail/roots\n",
        "/opt/mail/roots": bundles["good"],  # outside /etc, not named like a store
        "/home/bob/.msmtprc": f"account b\nhost h\ntls_trust_file {SYSTEM}\n",
        SYSTEM: bundles["good"],
        "/etc/exim4/conf.d/main/000_localmacros": "X = 1\n",
        "/etc/mail/sendmail.mc": "dnl\n",
        SSMTP: "mailhub=h\n",
        "/etc/motd": "not kept\n",
    }
    root = root_with(tmp_path, files)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(root, arcname=".")
    sparse = materialize([out.getvalue()], str(tmp_path / "sparse"))
    kept = {
        "/" + os.path.relpath(os.path.join(d, f), sparse.root)
        for d, _, names in os.walk(sparse.root)
        for f in names
    }
    assert {
        MAIN_CF,
        "/etc/postfix/roots",
        "/etc/postfix/master.cf",
        "/etc/msmtprc",
        "/home/bob/.msmtprc",
        "/etc/exim4/conf.d/main/000_localmacros",
        "/etc/mail/sendmail.mc",
        SSMTP,
    } <= kept
    credentials = {"/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"}
    credentials.add("/etc/exim4/passwd.client")
    assert not {"/etc/motd", "/opt/mail/roots", *credentials} & kept
    assert {"/etc/motd", "/opt/mail/roots"} <= sparse.left_out
    report = audit_target(Target(sparse.root), None, left_out=frozenset(sparse.left_out))
    direct = audit_root(root, None)
    summary = [(r.path, r.setting, r.verdict) for r in report.mail]
    assert summary == [
        ("/etc/postfix/roots", "smtp_tls_CAfile", OK),
        ("/opt/mail/roots", "tls_trust_file", UNREADABLE),  # there, but not exported
        (SYSTEM, "tls_trust_file", OK),
    ]
    assert [(r.path, r.verdict) for r in direct.mail] == [
        ("/etc/postfix/roots", OK),
        ("/opt/mail/roots", OK),
        (SYSTEM, OK),
    ]
    assert "audit an unpacked copy with --root" in report.mail[1].note


# --- an image FROM ats-local/ses-clients:debian -------------------------------

SES_CLIENTS = "ats-local/ses-clients:debian"
# ses-clients' own main.cf, with the CA file swapped (images/ses-clients/Dockerfile).
TEST_MAIN_CF = f"""\
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
compatibility_level = 3.6
myhostname = ses-client.example.com
mydestination = localhost
master_service_disable = inet
relayhost = {SES}
smtp_sasl_auth_enable = yes
smtp_sasl_security_options = noanonymous
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd
smtp_tls_security_level = secure
smtp_tls_CAfile = {LACKING}
smtp_tls_CApath =
maillog_file = /var/log/postfix.log
"""


def _docker_or_fail():
    return docker_engine(SES_CLIENTS, timeout=300, hint="scripts/build-images")


@pytest.fixture(scope="module")
def ses_image():
    """A test image: ses-clients with smtp_tls_CAfile at a one-root bundle."""
    import docker

    client = _docker_or_fail()
    tag = f"ats-test/mail-lacking:{uuid.uuid4().hex[:8]}"
    lacking = plants.pem_bundle(plants.test_cas(1, "Corp Mail Test"))
    plant = plants.Plant(
        "mail-lacking", SES_CLIENTS, {MAIN_CF: TEST_MAIN_CF.encode(), LACKING: lacking}
    )
    client.images.build(
        fileobj=plant.context(), custom_context=True, tag=tag, rm=True, forcerm=True, pull=False
    )
    yield tag
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(tag)


def audit_image(image: str) -> tuple[int, dict, str]:
    proc = ats("audit", image, "--json", "--fail-on", "missing", timeout=600)
    assert proc.stdout.startswith("{"), proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


@pytest.mark.docker
def test_image_with_postfix_ca_file_lacking_the_roots(ses_image):
    rc, doc, stderr = audit_image(ses_image)
    assert rc == 1, stderr
    postfix_rows = [m for m in doc["mail"] if m["program"] == "postfix"]
    assert [(m["path"], m["setting"], m["config"], m["verdict"]) for m in postfix_rows] == [
        (LACKING, "smtp_tls_CAfile", MAIN_CF, "missing")
    ]
    named = f"{LACKING} (smtp_tls_CAfile in {MAIN_CF})"
    assert named in doc["fail_on"]["missing"]
    assert named in stderr
    # msmtp in the same image still trusts the system bundle, which has the roots.
    assert [(m["path"], m["verdict"]) for m in doc["mail"] if m["program"] == "msmtp"] == [
        (SYSTEM, "ok")
    ]


@pytest.mark.docker
def test_ses_clients_image_mail_settings_are_ok():
    """Negative control: the unmodified image's Postfix and msmtp trust the
    system bundle, which has the roots; nothing about mail fails."""
    _docker_or_fail()
    rc, doc, stderr = audit_image(SES_CLIENTS)
    assert [(m["program"], m["setting"], m["path"], m["verdict"]) for m in doc["mail"]] == [
        ("postfix", "smtp_tls_CAfile", SYSTEM, "ok"),
        ("msmtp", "tls_trust_file", SYSTEM, "ok"),
    ]
    # and nothing else either: ats's own one-root data files are not stores
    assert rc == 0 and not doc["fail_on"]["missing"], stderr
