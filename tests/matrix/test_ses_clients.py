"""Real SES clients in the matrix, each against the stand-in, each with its
negative control (the client's own error text lands in results/matrix.json):

7 postfix      Postfix relaying through [email-smtp.us-east-1.amazonaws.com]:587
               with smtp_tls_security_level = secure: without the test root the
               message stays deferred with Postfix's own verification error in
               its log; after `ats install --extra-ca`, postfix reload and
               postqueue -f it is delivered
8a msmtp587    msmtp, STARTTLS on 587, tls_trust_file = the system bundle
8b msmtp465    msmtp, implicit TLS on 465, same trust file
9a boto3-v1    ses.send_email (Query API): fails with botocore's SSLError without
               AWS_CA_BUNDLE (certifi lacks the test root), also after the root
               is in the system store; sends as non-root on a read-only file
               system with the hook's exported AWS_CA_BUNDLE (amd64 rows: see
               AMD64_ONLY)
9b boto3-v2    sesv2.send_email (JSON API), the same way
10 curl        curl --ssl-reqd smtp://...:587 and a SigV4-signed SendEmail on 443,
               with the image's default bundle: fails, then passes after
               `ats install --extra-ca`

Rows: the client image (ats-local/ses-clients:debian, from scripts/build-images)
and every ats-base image where the client exists. A cell is skipped, with the
reason, only where the client cannot be had in that image.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import dockerrun
import matrixlib
import pytest

CLIENT_ROWS = ("ses-clients-debian",)
MATRIX_ROWS = {r.name: r for r in matrixlib.rows()}
ROWS = (*CLIENT_ROWS, *MATRIX_ROWS)
CLIENTS = "/checks/clients"
BOTO3_LIB = "/opt/ses-clients/lib"  # where host-installed boto3 is mounted
SES_WHEELS = os.path.join(matrixlib.REPO, "build", "ses-wheels")
SES_LOCK = os.path.join(matrixlib.REPO, "images", "ses-clients", "wheels.lock")
# Test credentials: the stand-in checks that a SigV4 signature is there, not the key.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_EC2_METADATA_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "1",
}
NOT_IN_ATS_BASE = "not in the ats-base images (see ses-clients-debian)"
ALPINE_MSMTP = "msmtp is an apk in Alpine's repository, and no Alpine repository is reachable here"


@dataclass
class Target:
    """One row: the image, and what the checks mount into it."""

    name: str
    image: str
    client: object
    mounts: dict = field(default_factory=dict)  # borrowed python runtime, if any
    flavor: str = "debian"
    arch: str = "amd64"  # arm64 rows run under qemu-user emulation

    def has(self, path: str) -> bool:
        return _has_file(self.client, self.image, path)

    def run(self, argv, pki, network, entrypoint=("/bin/sh", "-c"), **kw) -> dockerrun.Result:
        mounts = {**self.mounts, **kw.pop("mounts", {}),
                  str(pki.dir): {"bind": "/pki", "mode": "ro"}}
        return dockerrun.run(self.client, self.image, list(argv),
                             entrypoint=list(entrypoint) if entrypoint else None,
                             mounts=mounts, network=network, **kw)


@functools.cache
def _has_file(client, image: str, path: str) -> bool:
    return dockerrun.has_file(client, image, path)


def _built(entry: dict | None, image: str) -> None:
    """Skip or fail the cell as the build report says."""
    if entry is None:
        pytest.fail(f"{image} was not built: run scripts/build-images first")
    if entry["status"] == "skipped":
        pytest.skip(entry["reason"])
    if entry["status"] != "built":
        pytest.fail(f"build failed: {entry.get('reason')}")


@pytest.fixture
def target(docker_client, runtimes, request) -> Target:
    name = request.param
    report = matrixlib.read_build_report()
    if name in CLIENT_ROWS:
        entry = report.get("clients", {}).get(name)
        _built(entry, name)
        return Target(name, entry["image"], docker_client)
    row = MATRIX_ROWS[name]
    _built(report.get("images", {}).get(name), row.image)
    # Images without python borrow one (images/matrix.toml runtime_from), as
    # test_matrix does: `ats` then runs against the image's own store.
    mounts = runtimes(MATRIX_ROWS[row.runtime_from].image) if row.runtime_from else {}
    return Target(name, row.image, docker_client, mounts, row.flavor, row.arch)


# What the arm64 rows leave out, and why: emulation costs seconds a start, and
# the arm64 rows are held to a quarter of a CI run (#12). boto3's two APIs are
# one pure-Python botocore on every architecture, and differ only in the
# request it signs: 9b, the current API, runs on the arm64 rows and proves there
# what 9a would (the hook's AWS_CA_BUNDLE through the image's own arm64 Python
# and OpenSSL); 9a runs on every amd64 row.
AMD64_ONLY = ("9a boto3-v1",)


def params(check: str):
    """The check's cells: one per row, but the arm64 rows of AMD64_ONLY."""
    return [pytest.param(n, id=n, marks=pytest.mark.cell(n, check)) for n in ROWS
            if check not in AMD64_ONLY or n in CLIENT_ROWS or MATRIX_ROWS[n].arch == "amd64"]


def subject_for(check: str, target: Target) -> str:
    """A subject no other cell uses, to find this cell's message in the spool."""
    return f"ats-matrix {check} {target.name} {uuid.uuid4().hex[:12]}"


def spool_records(subject: str) -> list[dict]:
    """What the stand-in recorded for this subject (SMTP: in the data)."""
    path = os.path.join(os.environ["ATS_MATRIX_SPOOL"], "messages.jsonl")
    try:
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
    return [r for r in records
            if r.get("subject") == subject or f"Subject: {subject}" in (r.get("data") or "")]


def one_record(subject: str, **expect) -> dict:
    found = [r for r in spool_records(subject)
             if all(r.get(k) == v for k, v in expect.items())]
    assert len(found) == 1, f"stand-in recorded {len(found)} messages {expect} for {subject!r}"
    return found[0]


def first_line(text: str, pattern: str) -> str:
    """The first output line matching pattern: the client's own words."""
    for line in text.splitlines():
        if re.search(pattern, line):
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "(no output)"


def need(target: Target, path: str, client: str) -> None:
    if not target.has(path):
        if client == "msmtp" and target.flavor == "alpine":
            pytest.skip(f"no msmtp: {ALPINE_MSMTP}")
        pytest.skip(f"no {client} in this image: {NOT_IN_ATS_BASE}")


def need_ats(target: Target) -> None:
    """The positive half adds the test root with `ats install --extra-ca`."""
    if not (target.mounts or target.has("/usr/local/bin/ats")):
        pytest.skip("no ats in this image to add the test root with")


INSTALL_ROOT = "ats install --extra-ca /pki/root.pem >/dev/null && "


# --- 7 postfix ---------------------------------------------------------------------------

def _postfix_lines(output: str) -> dict:
    """KEY: value lines of postfix-relay.sh, syslog date and host dropped."""
    lines = {}
    for line in output.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.isupper():
            lines[key] = re.sub(r"^\w{3} [ \d]\d [\d:]{8} \S+ ", "", value.strip())
    return lines


@pytest.mark.parametrize("target", params("7 postfix"), indirect=True)
def test_postfix_relay(target, ses_network, ses_pki, record_property):
    need(target, "/usr/sbin/postfix", "postfix")
    need_ats(target)
    subject = subject_for("postfix", target)
    res = target.run([f"sh {CLIENTS}/postfix-relay.sh /pki/root.pem '{subject}'"],
                     ses_pki, ses_network)
    found = _postfix_lines(res.output)
    assert res.exit_code != 2, f"postfix set-up failed: {res.output}"
    # Negative control: deferred, queued, and Postfix's own reason in its log.
    assert "status=deferred" in found.get("BEFORE", ""), res.output
    assert "certificate verification failed" in found.get("BEFORE_VERIFY", ""), res.output
    assert "Server certificate not verified" in found.get("BEFORE_QUEUE", ""), res.output
    assert res.exit_code == 0, f"not delivered after the test root was added: {res.output}"
    assert "status=sent" in found["AFTER"] and "Verified TLS" in found["AFTER_TLS"]
    assert found["AFTER_QUEUE"] == "Mail queue is empty", res.output
    record = one_record(subject, kind="smtp", port=587, tls="starttls")
    assert record["rcpt_to"] == ["rcpt@example.com"] and record["auth_user"]
    record_property("detail", _postfix_detail(found))


def _postfix_detail(found: dict) -> str:
    """Postfix's own lines, shortened to what each step showed."""
    def status(key):
        match = re.search(r"status=\w+ \(.*\)$", found[key])
        return match.group(0) if match else found[key]

    flush_only = status("FLUSH_ONLY")
    why = ("the running smtp process keeps the CA file it read at start"
           if "deferred" in flush_only else "a new smtp process read the new bundle")
    verified = found["AFTER_TLS"].split(": ", 1)[1].split("]:")[0] + "]"
    return (f"without the test root: {found['BEFORE_VERIFY']}; {status('BEFORE')}, "
            f"message kept in the queue | after ats install --extra-ca, postqueue -f "
            f"alone: {flush_only} ({why}) | after postfix reload + postqueue -f: "
            f"{verified}; {status('AFTER')}; stand-in recorded it")


# --- 8 msmtp -----------------------------------------------------------------------------

MSMTP_ACCOUNTS = {587: ("ses-starttls", "starttls"), 465: ("ses-tls", "implicit")}


def _msmtp(target, port, check, ses_pki, ses_network, record_property):
    need(target, "/usr/bin/msmtp", "msmtp")
    need_ats(target)
    account, tls = MSMTP_ACCOUNTS[port]
    subject = subject_for(check, target)
    send = f"sh {CLIENTS}/msmtp-send.sh {account} '{subject}'"
    before = target.run([send], ses_pki, ses_network)
    assert before.exit_code != 0, f"sent without the test root: {before.output}"
    error = first_line(before.output, r"^msmtp: TLS")
    assert "TLS certificate verification failed" in error, before.output
    assert not spool_records(subject), "the stand-in got a message msmtp says it did not send"
    after = target.run([INSTALL_ROOT + send], ses_pki, ses_network)
    assert after.exit_code == 0, after.output
    one_record(subject, kind="smtp", port=port, tls=tls)
    record_property("detail", f"port {port} ({tls} TLS), without the test root: exit "
                              f"{before.exit_code}: {error.strip()} | after ats install "
                              "--extra-ca: sent, stand-in recorded it")


@pytest.mark.parametrize("target", params("8a msmtp587"), indirect=True)
def test_msmtp_starttls_587(target, ses_network, ses_pki, record_property):
    _msmtp(target, 587, "msmtp587", ses_pki, ses_network, record_property)


@pytest.mark.parametrize("target", params("8b msmtp465"), indirect=True)
def test_msmtp_implicit_tls_465(target, ses_network, ses_pki, record_property):
    _msmtp(target, 465, "msmtp465", ses_pki, ses_network, record_property)


# --- 9 boto3 -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def boto3_lib():
    """boto3 & co from build/ses-wheels, installed once on the host with --target.
    Every wheel is pure Python, so the directory serves any image's CPython;
    it is mounted read-only, never installed into the image. pip compiles it
    for the host's Python: a CPython of the same version loads the .pyc files,
    the others compile in memory (slower, same result)."""
    if not os.path.isdir(SES_WHEELS):
        pytest.fail("no build/ses-wheels: run scripts/build-images first")
    with open(SES_LOCK, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:12]
    dest = os.path.join(matrixlib.REPO, ".cache", "ses-clients", f"boto3-{key}")
    if not os.path.isdir(dest):
        staging = dest + f".{os.getpid()}.partial"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                        "--disable-pip-version-check", "--find-links",
                        SES_WHEELS, "--target", staging, "boto3", "certifi"], check=True)
        os.rename(staging, dest)
    return dest


def _boto3_setup(target, boto3_lib):
    """(mounts, environment) that give the image boto3; skip where it cannot run."""
    if target.name in CLIENT_ROWS:
        return {}, dict(AWS_ENV)  # installed in the image from its wheels
    if not (target.has("/usr/bin/python3") or target.has("/usr/local/bin/python3")):
        pytest.skip("no python3 in this image for boto3")
    mounts = {boto3_lib: {"bind": BOTO3_LIB, "mode": "ro"}}
    return mounts, {**AWS_ENV, "PYTHONPATH": BOTO3_LIB}


def _boto3_result(res: dockerrun.Result) -> dict:
    line = next((ln for ln in reversed(res.output.splitlines()) if ln.startswith("{")), None)
    if line is None:
        if "ModuleNotFoundError" in res.output:
            pytest.skip("boto3 cannot run on this python3: "
                        + first_line(res.output, "ModuleNotFoundError"))
        pytest.fail(f"boto3_send.py said nothing usable: {res.output}")
    return json.loads(line)


def _boto3(target, api, ses_pki, ses_network, boto3_lib, record_property):
    mounts, env = _boto3_setup(target, boto3_lib)
    subject = subject_for(f"boto3-{api}", target)
    send = ["python3", f"{CLIENTS}/boto3_send.py", api, subject]
    # As an application container would run: non-root, read-only root file system.
    locked = {"user": "65534:65534", "read_only": True, "tmpfs": {"/tmp": ""}}

    # Negative control: no hook, so no AWS_CA_BUNDLE; botocore falls back to certifi.
    before = _boto3_result(target.run(send[1:], ses_pki, ses_network, entrypoint=["python3"],
                                      mounts=mounts, environment=env, **locked))
    assert not before["ok"], f"sent without the test root: {before}"
    assert before["error"].startswith("SSLError: SSL validation failed"), before
    assert "CERTIFICATE_VERIFY_FAILED" in before["error"], before

    # The system store alone does not help boto3: botocore never reads it.
    # Shown once per image (v1, on the amd64 rows: see AMD64_ONLY), the same
    # holds for v2.
    need_ats(target)
    store = None
    if api == "v1":
        script = f"python3 {CLIENTS}/boto3_send.py {api} '{subject}'"
        store = _boto3_result(target.run([INSTALL_ROOT + script], ses_pki, ses_network,
                                         mounts=mounts, environment=env))
        assert not store["ok"] and store["error"].startswith("SSLError"), store

    # The hook (the image's ENTRYPOINT) builds a private bundle with the test
    # root and exports it to CMD as AWS_CA_BUNDLE.
    hook_env = {**env, "ATS_HOOK_EXTRA_CA": "/pki/root.pem"}
    after_res = target.run(send, ses_pki, ses_network, entrypoint=None, mounts=mounts,
                           environment=hook_env, **locked)
    after = _boto3_result(after_res)
    assert after["ok"], f"{after} {after_res.output}"
    assert after["ca"].startswith("AWS_CA_BUNDLE="), after
    kind = {"v1": "ses-v1", "v2": "ses-v2"}[api]
    record = one_record(subject, kind=kind, message_id=after["message_id"])
    assert record["sigv4"]["service"] == "ses", record
    system_store = (f" | root, test root in the system store, no AWS_CA_BUNDLE: still "
                    f"{store['error'].split(' [')[0]}") if store else ""
    record_property("detail", (
        f"boto3 {after['boto3']}, non-root, read-only: without AWS_CA_BUNDLE "
        f"({before['ca']}): {before['error']}{system_store} | with the hook's "
        f"{after['ca'].split('=')[0]}: sent, MessageId {after['message_id']}, "
        "stand-in recorded it"
    ))


@pytest.mark.parametrize("target", params("9a boto3-v1"), indirect=True)
def test_boto3_ses_v1(target, ses_network, ses_pki, boto3_lib, record_property):
    _boto3(target, "v1", ses_pki, ses_network, boto3_lib, record_property)


@pytest.mark.parametrize("target", params("9b boto3-v2"), indirect=True)
def test_boto3_sesv2(target, ses_network, ses_pki, boto3_lib, record_property):
    _boto3(target, "v2", ses_pki, ses_network, boto3_lib, record_property)


# --- 10 curl ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", params("10 curl"), indirect=True)
def test_curl(target, ses_network, ses_pki, record_property):
    need(target, "/usr/bin/curl", "curl")
    need_ats(target)
    subject = subject_for("curl", target)
    send = f"sh {CLIENTS}/curl-send.sh '{subject}'"
    before = target.run([send], ses_pki, ses_network)
    assert before.exit_code == 60, f"expected curl's exit 60: {before.output}"
    error = first_line(before.output, r"^curl: \(")
    # curl 7.x says "SSL certificate problem: ...", 8.x "SSL certificate OpenSSL
    # verify result: ..."; OpenSSL's reason is the same in both.
    assert "unable to get local issuer certificate" in error, before.output
    after = target.run([INSTALL_ROOT + send], ses_pki, ses_network)
    assert after.exit_code == 0, after.output
    one_record(subject, kind="smtp", port=587, tls="starttls")
    one_record(subject, kind="ses-v1", action="SendEmail")
    version = first_line(before.output, "^client: ").removeprefix("client: ")
    record_property("detail", f"{version}, default CA bundle, without the test "
                              f"root: exit 60: {error} | after ats install --extra-ca: "
                              "smtp 587 (--ssl-reqd) and SigV4 SendEmail on 443 sent, "
                              "stand-in recorded both")
