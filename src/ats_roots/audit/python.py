"""Python's own CA bundles: certifi (pip's vendored copy too), botocore,
boto, requests. Python code that uses them ignores the system store."""

from __future__ import annotations

SITE_DIRS = ("/site-packages/", "/dist-packages/")
# First match wins: pip vendors certifi, botocore once vendored requests.
KINDS = (
    ("/pip/_vendor/certifi/", "python certifi (pip)"),
    ("/certifi/", "python certifi"),
    ("/botocore/", "python botocore"),
    ("/boto/", "python boto"),
    ("/requests/", "python requests"),
    ("/httplib2/", "python httplib2"),
)


def kind_of(inner: str) -> str | None:
    if not any(d in inner for d in SITE_DIRS):
        return None
    for marker, kind in KINDS:
        if marker in inner:
            return kind
    return "python bundle"
