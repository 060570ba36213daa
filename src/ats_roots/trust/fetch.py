"""Download the roots from the Amazon Trust Services repository, pin-checked."""

from __future__ import annotations

import os

import requests

from ats_roots import _portable
from ats_roots.errors import BadInput, EnvRefuses
from ats_roots.trust.roots import PINS, PinMismatch, check_pin

REPOSITORY = "https://www.amazontrust.com/repository/"


def fetch_roots(dest: str, base_url: str = REPOSITORY, ca_bundle: str | None = None) -> list:
    """Fetch all five; write them only if every one matches its pin."""
    if not os.path.isdir(dest):
        raise BadInput(f"{dest}: no such directory")
    verify = ca_bundle if ca_bundle else True
    fetched = []
    with requests.Session() as session:
        for filename in PINS:
            url = base_url.rstrip("/") + "/" + filename
            try:
                response = session.get(url, timeout=20, verify=verify)
                response.raise_for_status()
            except requests.RequestException as exc:
                raise EnvRefuses(
                    f"{url}: download failed ({exc.__class__.__name__}: {exc})"
                ) from None
            try:
                fetched.append(check_pin(filename, response.content))
            except PinMismatch as exc:
                raise PinMismatch(f"refused, nothing written: {url}: {exc}") from None
    try:
        for root in fetched:
            _portable.atomic_write(os.path.join(dest, root.filename), root.pem)
    except OSError as exc:
        where = exc.filename2 or exc.filename or dest  # a rename: its destination
        raise EnvRefuses(f"{where}: cannot write ({exc.strerror})") from None
    return fetched


def fetch_outcome(dest: str, base_url: str | None = None, ca_bundle: str | None = None):
    from ats_roots.outcome import Outcome

    got = fetch_roots(dest, base_url or REPOSITORY, ca_bundle)
    return Outcome([f"ok {r.filename} {r.name}" for r in got], [r.filename for r in got])
