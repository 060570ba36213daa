"""AWS SDKs and CLIs released before 2015-02-05, found by package metadata.

The cut-off is AWS's: "If you use an AWS SDK or a version of the AWS CLI
released prior to February 5, 2015, you should upgrade" (AWS Messaging
blog, "About the Amazon Trust Services Migration"). SDKs of that age carried
their own CA bundles, or predate the Amazon roots in whatever they trusted.

Each entry is the first release on or after the cut-off. Where the
project's changelog dates its releases the version is exact; where it does
not (approximate=True) it is the release current at the cut-off, so a
borderline version is flagged: a false alarm costs an upgrade, a miss costs
an outage.
"""

from __future__ import annotations

import json
import os
import re

from ats_roots.audit import names
from ats_roots.audit.model import OldSdk
from ats_roots.audit.read import read_inner
from ats_roots.system.target import Target

_BOTO_WHY = (
    "verifies TLS against its own bundled CA file (boto/cacerts/cacerts.txt), "
    "not the system store; bundles that old lack the Amazon roots"
)
TABLE = {
    # boto 2.36.0 is dated 2015-01-27, 2.37.0 2015-04-02 (boto release notes).
    ("python", "boto"): ("2.37.0", False, _BOTO_WHY),
    # boto3 0.0.7 (2015-02-05) pins botocore 0.86.0, boto3 0.0.8 (2015-02-10) 0.87.0.
    ("python", "botocore"): (
        "0.87.0",
        False,
        "vendors requests and verifies TLS against that copy's cacert.pem, not the system store",
    ),
    # aws-cli 1.7.5 shipped botocore 0.86.0's changes, 1.7.6 those of 0.87.0.
    ("python", "awscli"): (
        "1.7.6",
        False,
        "the AWS CLI verifies TLS with its botocore's bundled CA file",
    ),
    ("node", "aws-sdk"): (
        "2.1.11",
        True,
        "AWS asks for an upgrade of SDKs released before the cut-off; "
        "one this old implies a Node whose built-in roots may lack ATS",
    ),
    ("java", "aws-java-sdk"): (
        "1.9.19",
        True,
        "trusts the JRE's cacerts; an SDK this old implies a JRE whose "
        "cacerts may predate the Amazon roots (see the java stores)",
    ),
    ("ruby", "aws-sdk"): (
        "1.62.0",
        True,
        "aws-sdk v1 verifies TLS against its own bundled ca-bundle.crt",
    ),
    ("ruby", "aws-sdk-v1"): (
        "1.62.0",
        True,
        "aws-sdk v1 verifies TLS against its own bundled ca-bundle.crt",
    ),
    ("ruby", "aws-sdk-core"): (
        "2.0.24",
        True,
        "AWS asks for an upgrade of SDKs released before the cut-off",
    ),
}


def find(target: Target, sdk_paths: list[str]) -> list[OldSdk]:
    out = []
    for inner in sdk_paths:
        found = _identify(target, inner)
        if found is None:
            continue
        ecosystem, package, version = found
        first_fixed, approximate, why = TABLE[(ecosystem, package)]
        if _key(version) < _key(first_fixed):
            out.append(OldSdk(ecosystem, package, version, inner, first_fixed, approximate, why))
    return sorted(out, key=lambda s: (s.ecosystem, s.package, s.path))


def _identify(target: Target, inner: str) -> tuple[str, str, str] | None:
    name = os.path.basename(inner)
    match = names.PY_SDK_DIR.match(name)
    if match:
        return "python", match.group(1), _py_version(target, inner) or match.group(2)
    match = names.JAVA_SDK_JAR.match(name)
    if match:
        return "java", "aws-java-sdk", match.group(1)
    match = names.RUBY_SDK_SPEC.match(name)
    if match:
        return "ruby", match.group(1), match.group(2)
    if inner.endswith(names.NODE_SDK_PACKAGE):
        try:
            version = json.loads(read_inner(target, inner) or b"{}").get("version")
        except ValueError:
            return None
        return ("node", "aws-sdk", version) if isinstance(version, str) else None
    return None


def _py_version(target: Target, inner: str) -> str | None:
    """Version: from METADATA / PKG-INFO (inner may be the file itself)."""
    for candidate in (inner, *(f"{inner}/{n}" for n in names.PY_METADATA)):
        data = read_inner(target, candidate)
        if data:
            match = re.search(rb"^Version:\s*(\S+)", data, re.M)
            if match:
                return match.group(1).decode("ascii", "replace")
    return None


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:4])
