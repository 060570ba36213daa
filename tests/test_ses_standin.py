"""The SES stand-in (images/ses-standin): its protocols on the host, its image in docker.

Host tests run server.py on 127.0.0.1 and speak to it with smtplib and
http.client, checking the SES names as a client in a container would.  The
docker tests (marked `docker`; they fail instead of skipping when
ATS_REQUIRE_DOCKER=1) build the image without network, start it on a private
network under the real SES names and handshake from a client container.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import smtplib
import socket
import ssl
import tarfile
import time
import uuid

import pytest
from helpers import need
from pki import REPO, make_ses_pki, run_standin

US = "us-east-1"
SMTP_US = f"email-smtp.{US}.amazonaws.com"
API_US = f"email.{US}.amazonaws.com"
SIGV4 = (
    f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/{US}/ses/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
)


# --- on the host -------------------------------------------------------------


@pytest.fixture(scope="module")
def host_standin(tmp_path_factory):
    d = tmp_path_factory.mktemp("standin")
    pki = make_ses_pki(d / "pki")
    with run_standin(pki, d / "spool") as ports:
        yield ports, ssl.create_default_context(cafile=str(pki.root)), d / "spool"


class LocalSMTP(smtplib.SMTP):
    """smtplib connected to 127.0.0.1 but naming, and so verifying, the SES host."""

    def _get_socket(self, host, port, timeout):
        return socket.create_connection(("127.0.0.1", port), timeout)


class LocalSMTPS(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection(("127.0.0.1", port), timeout)
        return self.context.wrap_socket(sock, server_hostname=host)


class LocalHTTPS(http.client.HTTPSConnection):
    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def spooled(spool, message_id: str) -> dict:
    for line in (spool / "messages.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["message_id"] == message_id:
            return entry
    raise AssertionError(f"{message_id} not in the spool")


def test_smtp_starttls_auth_and_a_message(host_standin):
    ports, ctx, spool = host_standin
    with LocalSMTP(SMTP_US, ports[587], timeout=10) as smtp:
        code, ehlo = smtp.ehlo("client.example")
        assert b"STARTTLS" in ehlo and b"AUTH" not in ehlo  # AUTH only under TLS
        assert smtp.docmd("AUTH", "PLAIN")[0] == 530
        assert smtp.starttls(context=ctx)[0] == 220
        assert b"AUTH PLAIN LOGIN" in smtp.ehlo("client.example")[1]
        smtp.login("AKIAEXAMPLE", "smtp-password")
        smtp.mail("sender@example.com")
        smtp.rcpt("one@example.net")
        smtp.rcpt("two@example.net")
        code, reply = smtp.data(b"Subject: hello\r\n\r\n.leading dot\r\nbody\r\n")
    assert code == 250
    entry = spooled(spool, reply.decode().split()[1])
    assert entry["kind"] == "smtp" and entry["tls"] == "starttls" and entry["port"] == 587
    assert entry["auth_user"] == "AKIAEXAMPLE"
    assert entry["mail_from"] == "sender@example.com"
    assert entry["rcpt_to"] == ["one@example.net", "two@example.net"]
    assert entry["data"] == "Subject: hello\r\n\r\n.leading dot\r\nbody\r\n"
    assert "smtp-password" not in json.dumps(entry)


def test_smtp_implicit_tls_with_auth_login(host_standin):
    ports, ctx, spool = host_standin
    with LocalSMTPS("email-smtp.eu-west-1.amazonaws.com", ports[465], context=ctx) as smtp:
        smtp.ehlo()
        assert "starttls" not in smtp.esmtp_features
        smtp.user, smtp.password = "AKIALOGIN", "pw"
        assert smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)[0] == 235
        smtp.mail("a@example.com")
        smtp.rcpt("b@example.com")
        code, reply = smtp.data(b"hi")
        smtp.rset()
        assert smtp.noop()[0] == 250
    assert spooled(spool, reply.decode().split()[1])["tls"] == "implicit"


def test_smtp_order_is_enforced(host_standin):
    ports, ctx, _ = host_standin
    with LocalSMTP(SMTP_US, ports[2587], timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.docmd("MAIL", "FROM:<a@example.com>") == (
            530,
            b"Must issue a STARTTLS command first",
        )
        smtp.starttls(context=ctx)
        smtp.ehlo()
        assert smtp.docmd("MAIL", "FROM:<a@example.com>")[0] == 530  # no AUTH yet
        assert smtp.docmd("RCPT", "TO:<b@example.com>")[0] == 503
        assert smtp.docmd("STARTTLS")[0] == 503
        assert smtp.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0u\0").decode())[0] == 535


def test_plaintext_pipelined_after_starttls_is_dropped(host_standin):
    """Commands injected before the handshake must not run after it (CVE-2011-0411)."""
    ports, ctx, _ = host_standin
    with socket.create_connection(("127.0.0.1", ports[25]), timeout=10) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"220 ")
        raw.sendall(b"EHLO x\r\n")
        while f.readline()[3:4] == b"-":
            pass
        raw.sendall(b"STARTTLS\r\nXINJECTED\r\n")
        assert f.readline().startswith(b"220 ")
        with ctx.wrap_socket(raw, server_hostname=SMTP_US) as tls:
            tls.sendall(b"NOOP\r\n")
            assert tls.recv(100) == b"250 Ok\r\n"


def test_smtp_credentials_when_configured(tmp_path):
    pki = make_ses_pki(tmp_path / "pki")
    ctx = ssl.create_default_context(cafile=str(pki.root))
    env = {"STANDIN_SMTP_USER": "right", "STANDIN_SMTP_PASSWORD": "secret"}
    with run_standin(pki, tmp_path / "spool", env=env) as ports:
        with (
            LocalSMTPS(SMTP_US, ports[2465], context=ctx) as smtp,
            pytest.raises(smtplib.SMTPAuthenticationError),
        ):
            smtp.login("right", "wrong")
        with LocalSMTPS(SMTP_US, ports[2465], context=ctx) as smtp:
            assert smtp.login("right", "secret")[0] == 235


def api(ports, ctx, method, path, body=b"", headers=None, host=API_US):
    conn = LocalHTTPS(host, ports[443], context=ctx, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_https_health(host_standin):
    ports, ctx, _ = host_standin
    assert api(ports, ctx, "GET", "/") == (200, "SES stand-in: healthy\n")


def test_ses_v1_send_email(host_standin):
    ports, ctx, spool = host_standin
    form = (
        "Action=SendEmail&Source=from%40example.com"
        "&Destination.ToAddresses.member.1=to%40example.net"
        "&Destination.CcAddresses.member.1=cc%40example.net"
        "&Message.Subject.Data=Hi&Message.Body.Text.Data=Hello+there"
    )
    headers = {"Authorization": SIGV4, "Content-Type": "application/x-www-form-urlencoded"}
    status, xml = api(ports, ctx, "POST", "/", form, headers)
    assert status == 200 and xml.startswith("<SendEmailResponse xmlns=")
    message_id = xml.split("<MessageId>")[1].split("<")[0]
    entry = spooled(spool, message_id)
    assert (entry["kind"], entry["action"]) == ("ses-v1", "SendEmail")
    assert entry["mail_from"] == "from@example.com"
    assert entry["rcpt_to"] == ["to@example.net", "cc@example.net"]
    assert (entry["subject"], entry["data"]) == ("Hi", "Hello there")
    assert entry["sigv4"]["access_key"] == "AKIDEXAMPLE" and entry["sigv4"]["region"] == US


def test_ses_v1_send_raw_email(host_standin):
    ports, ctx, spool = host_standin
    raw = base64.b64encode(b"From: a@example.com\r\nSubject: raw\r\n\r\nraw body").decode()
    form = "Action=SendRawEmail&RawMessage.Data=" + raw.replace("+", "%2B").replace("=", "%3D")
    status, xml = api(ports, ctx, "POST", "/", form, {"Authorization": SIGV4})
    assert status == 200 and "<SendRawEmailResult><MessageId>" in xml
    message_id = xml.split("<MessageId>")[1].split("<")[0]
    assert spooled(spool, message_id)["data"].endswith("raw body")


def test_ses_api_needs_sigv4(host_standin):
    ports, ctx, _ = host_standin
    status, xml = api(ports, ctx, "POST", "/", "Action=SendEmail")
    assert status == 403 and "<Code>MissingAuthenticationToken</Code>" in xml
    wrong_region = SIGV4.replace(US, "eu-west-1")
    status, xml = api(ports, ctx, "POST", "/", "Action=SendEmail", {"Authorization": wrong_region})
    assert status == 403 and "SignatureDoesNotMatch" in xml
    status, body = api(ports, ctx, "POST", "/v2/email/outbound-emails", "{}")
    assert status == 403 and json.loads(body)["message"].startswith("Request is missing")


def test_ses_v2_send_email(host_standin):
    ports, ctx, spool = host_standin
    request = {
        "FromEmailAddress": "from@example.com",
        "Destination": {"ToAddresses": ["to@example.net"], "BccAddresses": ["bcc@example.net"]},
        "Content": {"Simple": {"Subject": {"Data": "v2"}, "Body": {"Text": {"Data": "v2 body"}}}},
    }
    headers = {"Authorization": SIGV4, "Content-Type": "application/json"}
    status, body = api(
        ports, ctx, "POST", "/v2/email/outbound-emails", json.dumps(request), headers
    )
    assert status == 200
    entry = spooled(spool, json.loads(body)["MessageId"])
    assert (entry["kind"], entry["mail_from"]) == ("ses-v2", "from@example.com")
    assert entry["rcpt_to"] == ["to@example.net", "bcc@example.net"]
    assert (entry["subject"], entry["data"]) == ("v2", "v2 body")
    # The whole spool is also readable over HTTPS, for clients without docker exec.
    status, lines = api(ports, ctx, "GET", "/_standin/messages")
    assert status == 200 and entry["message_id"] in lines


# --- in docker ---------------------------------------------------------------

BASE_IMAGE = os.environ.get("ATS_BASE_IMAGE", "ats-local/debian:bookworm")
# Under ats-test/, where test-made images go: not an input of the matrix's kept
# results (tests/matrix/resultcache.py), which this build would otherwise change.
STANDIN_IMAGE = os.environ.get("ATS_STANDIN_IMAGE", "ats-test/ses-standin:unit")
REGIONS = ("us-east-1", "eu-west-1")
ALIASES = [f"{kind}.{r}.amazonaws.com" for r in REGIONS for kind in ("email-smtp", "email")]

# Runs in the client container (stdlib only: the base images have no ats).
# argv: CAFILE or "-" for the system store, then HOST:PORT ...
HANDSHAKES = r"""
import smtplib, socket, ssl, sys
ctx = ssl.create_default_context(cafile=None if sys.argv[1] == "-" else sys.argv[1])
failed = 0
for target in sys.argv[2:]:
    host, port = target.rsplit(":", 1)
    try:
        if port in ("25", "587", "2587"):
            smtp = smtplib.SMTP(host, int(port), timeout=10)
            smtp.starttls(context=ctx)
            version = smtp.sock.version()
            smtp.quit()
        else:
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                with ctx.wrap_socket(sock, server_hostname=host) as tls:
                    version = tls.version()
        print("ok", target, version)
    except ssl.SSLCertVerificationError as exc:
        failed = 1
        print("FAIL", target, exc)
sys.exit(failed)
"""

SEND = r"""
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with smtplib.SMTP("email-smtp.eu-west-1.amazonaws.com", 587, timeout=10) as smtp:
    smtp.starttls(context=ctx)
    smtp.login("AKIADOCKER", "pw")
    smtp.sendmail("docker@example.com", ["rcpt@example.net"], "Subject: in docker\r\n\r\nhi")
print("sent")
"""


def docker_unavailable(reason: str):
    need(False, reason, "DOCKER")


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar for put_archive: the daemon may be remote, so no bind mounts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def docker_client():
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        docker_unavailable(f"no Docker Engine: {exc}")
    try:
        client.images.get(BASE_IMAGE)
    except Exception:
        docker_unavailable(f"{BASE_IMAGE} not built (scripts/build-bases)")
    yield client
    client.close()


@pytest.fixture(scope="module")
def standin_net(docker_client, tmp_path_factory):
    """The stand-in image built offline, running on a private network under SES's names."""
    client = docker_client
    pki = make_ses_pki(tmp_path_factory.mktemp("docker-pki"), REGIONS)
    client.images.build(
        path=str(REPO / "images" / "ses-standin"),
        tag=STANDIN_IMAGE,
        buildargs={"BASE_IMAGE": BASE_IMAGE},
        network_mode="none",  # hermetic: the build may not reach anything
        rm=True,
        forcerm=True,
    )
    tag = uuid.uuid4().hex[:10]
    net = container = None
    try:
        # internal: no route out, so nothing can reach the real amazonaws.com.
        net = client.networks.create(f"ats-ses-{tag}", driver="bridge", internal=True)
        endpoint = client.api.create_endpoint_config(aliases=ALIASES)
        container = client.containers.create(
            STANDIN_IMAGE,
            name=f"ats-ses-standin-{tag}",
            network=net.name,
            networking_config={net.name: endpoint},
        )
        container.put_archive(
            "/pki", tar_of({"chain.pem": pki.chain.read_bytes(), "key.pem": pki.key.read_bytes()})
        )
        container.start()
        wait_ready(container)
        yield client, net, container, pki
    finally:
        if container is not None:
            container.remove(force=True)
        if net is not None:
            net.remove()


def wait_ready(container, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            break
        if b"ready " in container.logs(stdout=True, stderr=False):
            return
        time.sleep(0.2)
    logs = container.logs().decode(errors="replace")
    raise AssertionError(f"stand-in not ready ({container.status}):\n{logs}")


def run_client(standin_net, script: str, args: list[str]) -> tuple[int, str]:
    """python3 -c script in a throwaway base-image container on the network."""
    client, net, _, pki = standin_net
    container = client.containers.create(
        BASE_IMAGE, ["python3", "-c", script, *args], network=net.name
    )
    try:
        container.put_archive("/tmp", tar_of({"root.pem": pki.root.read_bytes()}))
        container.start()
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


TARGETS = [f"{SMTP_US}:{p}" for p in (25, 587, 2587, 465, 2465)] + [
    f"{API_US}:443",
    "email-smtp.eu-west-1.amazonaws.com:2465",
    "email.eu-west-1.amazonaws.com:443",
]


@pytest.mark.docker
def test_handshakes_pass_with_the_test_root(standin_net):
    code, out = run_client(standin_net, HANDSHAKES, ["/tmp/root.pem", *TARGETS])
    assert code == 0, out
    assert out.count("ok ") == len(TARGETS), out


@pytest.mark.docker
def test_handshakes_fail_without_it(standin_net):
    code, out = run_client(standin_net, HANDSHAKES, ["-", *TARGETS])
    assert code == 1, out
    lost = "certificate verify failed: unable to get local issuer certificate"
    assert out.count(lost) == len(TARGETS), out


@pytest.mark.docker
def test_message_lands_in_the_spool(standin_net):
    code, out = run_client(standin_net, SEND, ["/tmp/root.pem"])
    assert code == 0, out
    _, _, standin, _ = standin_net
    code, spool = standin.exec_run(["cat", "/spool/messages.jsonl"])
    assert code == 0
    entry = json.loads(spool.decode().splitlines()[-1])
    assert entry["mail_from"] == "docker@example.com"
    assert entry["rcpt_to"] == ["rcpt@example.net"]
    assert entry["data"].endswith("hi\r\n")
    code, _ = standin.exec_run(["python3", "/opt/ses-standin/server.py", "--healthcheck"])
    assert code == 0
