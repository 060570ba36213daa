"""`ats probe ses` against the SES stand-in run on 127.0.0.1 (no docker needed).

The stand-in serves every SES port on a free high port; --ports 465=PORT and
--resolve NAME:127.0.0.1 aim the probe there while it still checks the SES
host names, exactly as it does inside a container on the stand-in's network.
"""

from __future__ import annotations

import json
import socket
import sys

import pytest
from pki import SES_PORTS, make_ses_pki, port_spec, resolve_args, run_standin

from ats_roots.cli import main
from ats_roots.tls import probe

LEAF = "email-smtp.us-east-1.amazonaws.com"
CHAIN = [LEAF, "ATS Test RSA 2048 M01", "ATS Test Root CA"]
# Python 3.9 cannot read the chain a server sent; the probe says so.
FULL_CHAIN = sys.version_info >= (3, 10)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    d = tmp_path_factory.mktemp("ses")
    pki = make_ses_pki(d / "pki")
    with run_standin(pki, d / "spool") as ports:
        yield pki, ports


def ats_probe(capsys, ports, *extra, regions=("us-east-1",)):
    code = main(["probe", "ses", "--ports", port_spec(ports), *resolve_args(regions), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_port_verifies_with_the_test_root(standin, capsys):
    pki, ports = standin
    code, out, err = ats_probe(capsys, ports, "--cafile", str(pki.root))
    assert code == 0, out + err
    assert "6 of 6 ports ok" in out
    if FULL_CHAIN:
        assert out.count("chain   " + " <- ".join(CHAIN)) == 6
        assert out.count("anchor  ATS Test Root CA (not an ATS root") == 6
    assert err == ""


def test_results_name_the_chain_and_the_anchor(standin):
    pki, ports = standin
    resolve = {n: "127.0.0.1" for n in pki.names}
    results = probe.probe_ses("eu-west-1", ports, str(pki.root), 10, resolve)
    assert [r["port"] for r in results] == list(SES_PORTS)
    assert {r["port"]: r["mode"] for r in results} == probe.SES_PORTS
    for r in results:
        assert r["ok"] and r["status"] == "ok", r
        assert r["host"] == probe.ses_host("eu-west-1", r["port"])
        assert r["tls_version"] in ("TLSv1.2", "TLSv1.3")
        if FULL_CHAIN:
            assert [c["name"] for c in r["chain"]] == CHAIN
            assert r["anchor"]["name"] == "ATS Test Root CA"
            assert r["anchor"]["ats_root"] is False
        else:
            assert r["chain"][0]["issuer_name"] == "ATS Test RSA 2048 M01"
    assert results[-1]["http_status"].startswith("HTTP/1.1 200")
    assert results[0]["banner"].startswith("email-smtp.amazonaws.com ESMTP")


def test_json_report(standin, capsys):
    pki, ports = standin
    code, out, _ = ats_probe(capsys, ports, "--cafile", str(pki.root), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["ok"] is True and report["region"] == "us-east-1"
    assert [p["status"] for p in report["ports"]] == ["ok"] * 6


def test_system_store_does_not_trust_the_test_root(standin, capsys):
    _, ports = standin
    code, out, err = ats_probe(capsys, ports)
    assert code == 1
    lost = "certificate verify failed: unable to get local issuer certificate"
    assert out.count(lost) == 6
    assert "0 of 6 ports ok" in out
    # The failure names what was served and the root it needs.
    if FULL_CHAIN:
        assert f"served  {LEAF} <- ATS Test RSA 2048 M01 (issued by ATS Test Root CA)" in out
    assert err.startswith("ats: error: TLS verification failed (ports 25, 587, 2587")
    assert "ats install" in err


def test_wrong_host_name_fails(standin, capsys):
    pki, ports = standin
    code, out, err = ats_probe(
        capsys, ports, "--region", "ap-south-1", "--cafile", str(pki.root), regions=["ap-south-1"]
    )
    assert code == 1
    assert out.count("certificate verify failed: Hostname mismatch") == 6
    assert "not valid for 'email-smtp.ap-south-1.amazonaws.com'" in err


def test_connection_refused_is_no_network(capsys):
    ports = {465: free_port(), 443: free_port()}
    code, out, err = ats_probe(capsys, ports, "--timeout", "3")
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(
        "ats: error: no network: email-smtp.us-east-1.amazonaws.com via 127.0.0.1"
    )
    assert "Connection refused (ports 465, 443)" in err


def test_unresolvable_name_is_no_network(capsys):
    # RFC 6761: .invalid never resolves, with or without a network.
    code = main(
        [
            "probe",
            "ses",
            "--ports",
            "465",
            "--resolve",
            "email-smtp.us-east-1.amazonaws.com:nowhere.invalid",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 3
    assert err.startswith("ats: error: no network: cannot resolve nowhere.invalid")


def test_wrong_protocol_is_a_failure_not_no_network(standin, capsys):
    pki, ports = standin
    # An SMTP client waiting for a banner from a TLS server that waits for a ClientHello.
    code, out, err = ats_probe(
        capsys, {25: ports[465]}, "--cafile", str(pki.root), "--timeout", "0.5"
    )
    assert code == 1
    assert "timed out waiting for the server" in out
    assert err.startswith("ats: error: probe failed (port 25)")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ports", "80"], "80 is not an SES port"),
        (["--ports", "465=x"], "give PORT or PORT=CONNECT_PORT"),
        (["--resolve", "nocolon"], "give NAME:ADDRESS"),
        (["--region", "../etc"], "not an AWS region name"),
        (["--cafile", "/nonexistent/root.pem"], "cannot load"),
    ],
)
def test_bad_input_exits_2(capsys, argv, message):
    assert main(["probe", "ses", *argv]) == 2
    assert message in capsys.readouterr().err


def test_parse_ports_and_resolve():
    assert probe.parse_ports("465, 587=10587") == {465: 465, 587: 10587}
    assert probe.parse_resolve(["Email.X:10.0.0.2", "e.y:[::1]"]) == {
        "email.x": "10.0.0.2",
        "e.y": "::1",
    }


def test_climb_reaches_the_anchor_only_through_the_store(tmp_path):
    """The Python 3.9 fallback: leaf to anchor through what the store holds."""
    pki = make_ses_pki(tmp_path)
    der = {name: _der(getattr(pki, name)) for name in ("leaf", "intermediate", "root")}
    full = probe._climb(der["leaf"], [der["root"], der["intermediate"]])
    assert full == [der["leaf"], der["intermediate"], der["root"]]
    assert probe._climb(der["leaf"], [der["root"]]) == [der["leaf"]]


def _der(path) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_tls_to_a_plaintext_port_is_a_failure(standin, capsys):
    pki, ports = standin
    # Implicit TLS against the plain SMTP port: the server's banner is no ServerHello.
    code, out, err = ats_probe(capsys, {465: ports[25]}, "--cafile", str(pki.root))
    assert code == 1
    assert "TLS: [SSL:" in out
    assert err.startswith("ats: error: probe failed (port 465): TLS: [SSL:")
