"""`ats fetch-roots` against a local HTTPS server (a trustme CA, 127.0.0.1)."""

from __future__ import annotations

import os
import shutil

import pytest
import trustme  # noqa: E402 - a dev requirement: missing is a failure, not a skip
from helpers import DATA, ROOT_FILES, ats, https_server, one_error_line, pem_shas, pinned_shas


@pytest.fixture
def tls(tmp_path):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "server.pem")
    )
    return tmp_path / "ca.pem", tmp_path / "server.pem"


def serve(tmp_path, tls, tamper=None):
    www = tmp_path / ("tampered" if tamper else "good")
    www.mkdir()
    for name in ROOT_FILES:
        shutil.copy(DATA / name, www / name)
    if tamper:
        shutil.copy(DATA / tamper[1], www / tamper[0])
    return https_server(www, tls[1], tls[1])


def fetch(dest, url, ca):
    args = ["fetch-roots", "--dest", dest, "--base-url", url]
    env = dict(os.environ, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("CURL_CA_BUNDLE", None)
    return ats(*args, *(["--ca-bundle", ca] if ca else []), env=env)


def test_fetch_good_then_tampered(tmp_path, tls):
    dest = tmp_path / "dest"
    dest.mkdir()
    with serve(tmp_path, tls) as url:
        proc = fetch(dest, url, tls[0])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == 5
    assert sorted(p.name for p in dest.iterdir()) == sorted(ROOT_FILES)
    assert [pem_shas((dest / f).read_bytes()) for f in ROOT_FILES] == [[p] for p in pinned_shas()]
    previous = {f: (dest / f).read_bytes() for f in ROOT_FILES}

    # A valid certificate, but not the pinned one, under AmazonRootCA3.pem.
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve(tmp_path, tls, ("AmazonRootCA3.pem", "AmazonRootCA4.pem")) as url:
        for target in (empty, dest):
            proc = fetch(target, url, tls[0])
            assert proc.returncode == 2, proc.stdout + proc.stderr
            line = one_error_line(proc)
            assert "AmazonRootCA3.pem" in line and "does not match the pin" in line
            assert "nothing written" in line
    assert list(empty.iterdir()) == []
    assert {f: (dest / f).read_bytes() for f in ROOT_FILES} == previous
    assert sorted(p.name for p in dest.iterdir()) == sorted(ROOT_FILES)  # no temp files


def test_the_download_checks_tls(tmp_path, tls):
    """Without the CA bundle the local server is untrusted: exit 3, nothing written."""
    dest = tmp_path / "dest"
    dest.mkdir()
    with serve(tmp_path, tls) as url:
        proc = fetch(dest, url, None)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in one_error_line(proc)
        missing = fetch(dest, url + "nothing-here/", tls[0])  # 404 for every file
        assert missing.returncode == 3 and "404" in one_error_line(missing)
    assert list(dest.iterdir()) == []


def test_dest_must_be_a_directory(tmp_path, tls):
    proc = fetch(tmp_path / "nope", "https://127.0.0.1:9/", tls[0])
    assert proc.returncode == 2 and "no such directory" in one_error_line(proc)


def test_a_dest_that_cannot_be_written_is_refused_with_3(tmp_path, tls):
    dest = tmp_path / "dest"
    (dest / "AmazonRootCA1.pem").mkdir(parents=True)  # rename onto a directory fails
    with serve(tmp_path, tls) as url:
        proc = fetch(dest, url, tls[0])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "AmazonRootCA1.pem: cannot write" in one_error_line(proc)
    assert sorted(p.name for p in dest.iterdir()) == ["AmazonRootCA1.pem"]
