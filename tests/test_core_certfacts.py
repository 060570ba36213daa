"""_portable.cert_facts: the DER facts `ats install` and the hook both check
of an --extra-ca (CA flag, notAfter, common name), against cryptography."""

from __future__ import annotations

import pytest
from helpers import make_ca

from ats_roots import _portable
from ats_roots.trust.roots import load_der_quietly, load_roots


@pytest.mark.parametrize("root", load_roots(), ids=lambda r: r.slug)
def test_the_pinned_roots_read_as_cryptography_reads_them(root):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = load_der_quietly(root.der)
    is_ca, not_after, name = _portable.cert_facts(root.der)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert is_ca is True and bc.ca is True
    assert not_after == f"{cert.not_valid_after_utc:%Y%m%d%H%M%S}"
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert name == (cn[0].value if cn else None)


@pytest.mark.parametrize("ca", [True, False])
def test_the_ca_flag_is_read_both_ways(tmp_path, ca):
    """The negative control of the above: CA:FALSE reads as False."""
    pem = make_ca(tmp_path / "c.pem", ca=ca, name="facts test").read_bytes()
    [(_, der)] = _portable.pem_blocks(pem)
    assert _portable.cert_facts(der)[0] is ca
    assert _portable.cert_facts(der)[2] == "facts test"


def test_truncated_der_does_not_parse():
    der = load_roots()[0].der
    with pytest.raises((ValueError, IndexError)):
        _portable.cert_facts(der[: len(der) // 2])
