"""The image matrix: every check inside every image (see images/matrix.toml).

1 roots     `ats verify` exits 0 in the container; on the roots-removed base,
            1 with the roots MISSING (the negative control)
2 chains    the public Amazon intermediates and demo leaves verify with the
            image's own TLS stack (openssl, else its Python's libcrypto)
3 ses       `ats probe ses` (or the image's openssl where it has no ats) on
            every SES port of two regions, against the stand-in: fails
            before the test root is added, passes after `ats install --extra-ca`
6 hook      the start-time hook, mounted at run time into the roots-removed
            base: check 2 fails without it, passes through it (the bundled
            hook with its own Python on every row, the image's python3 where
            it has one) as root and as --user 1000 --read-only, with and
            without --tmpfs /tmp (arm64 rows: with it; hookbundle.users)
5 live      LIVE=1 only: the real SES endpoints and the Amazon demo hosts
            (good verifies; expired and revoked fail); without a network it
            fails, loudly, with "no network"
4 control   the base with the Amazon roots removed fails check 2; the
            ats-base image built on it passes
"""

from __future__ import annotations

import os
import subprocess
import sys

import dockerrun
import hookbundle
import matrixlib
import pytest
from hookbundle import hook_volumes  # noqa: F401 - a fixture, used by test_hook

ROWS = matrixlib.rows()
BY_NAME = {r.name: r for r in ROWS}


class Cell:
    """One image of the matrix, as the checks need it."""

    def __init__(self, client, row, report, runtimes):
        entry = report.get(row.name)
        if entry is None:
            pytest.fail(f"{row.image} was not built: run scripts/build-images first")
        if entry["status"] == "skipped":
            if row.arch != "amd64" and os.environ.get("ATS_REQUIRE_ARM64") == "1":
                pytest.fail(f"{entry['reason']} (ATS_REQUIRE_ARM64=1: arm64 rows must run)")
            pytest.skip(entry["reason"])
        if entry["status"] != "built":
            pytest.fail(f"build failed: {entry.get('reason')}")
        self.client, self.row, self.image = client, row, row.image
        self.mounts = {}
        self.borrowed = None
        if row.runtime_from:
            self.borrowed = BY_NAME[row.runtime_from].image
            self.mounts = runtimes(self.borrowed)
        self.has_ats = self.borrowed is not None or dockerrun.has_file(
            client, self.image, "/usr/local/bin/ats"
        )

    def run(self, image, entrypoint, argv, **kw):
        return dockerrun.run(self.client, image, argv, entrypoint=entrypoint,
                             mounts=self.mounts, **kw)

    def chain_check(self, image, mounts=None):
        return dockerrun.run(self.client, image, ["/fixtures"],
                             entrypoint=["/bin/sh", "/checks/chain-check.sh"],
                             mounts=self.mounts if mounts is None else mounts)

    def control_mounts(self, runtimes):
        """For the roots-removed base, which lacks /opt/ats-roots: lend it the
        one built for the same Python (cffi, where ctypes has no libffi). It
        holds no certificates, so the trust store tested is the base's own."""
        if self.borrowed:
            return self.mounts
        return {src: m for src, m in runtimes(self.image).items()
                if m["bind"] == "/opt/ats-roots"}


def cell_params(check):
    return [pytest.param(r, id=r.name, marks=pytest.mark.cell(r.name, check)) for r in ROWS]


@pytest.fixture
def cell(docker_client, build_report, runtimes, request):
    return Cell(docker_client, request.param, build_report, runtimes)


@pytest.mark.parametrize("cell", cell_params("1 roots"), indirect=True)
def test_roots(cell, record_property):
    if cell.has_ats:
        res = cell.run(cell.image, ["/usr/local/bin/ats"], ["verify"])
        how = "ats verify in the container"
        if cell.borrowed:
            how += f" (python borrowed from {cell.borrowed})"
    else:
        tree = dockerrun.rootfs(cell.client, cell.image)  # unpacked once per image ID
        proc = subprocess.run([sys.executable, "-m", "ats_roots", "verify", "--root", tree],
                              capture_output=True, text=True, check=False)
        res = dockerrun.Result(proc.returncode, proc.stdout + proc.stderr)
        how = "no full python in the image: ats verify --root on its exported file system"
    record_property("detail", how)
    assert res.exit_code == 0, f"{how}: exit {res.exit_code}: {res.output.strip()}"
    # Negative control: the same verdict on the base with the Amazon roots
    # removed (the base itself where it has no CA certificates) is "missing".
    if cell.row.noamazon:
        control = _verify_exported(cell.client, cell.row.noamazon)
        assert control.returncode == 1 and "MISSING" in control.stdout, (
            f"ats verify passed on {cell.row.noamazon}, which lacks the roots: "
            + control.stdout + control.stderr
        )



def _verify_exported(client, image: str) -> subprocess.CompletedProcess:
    """`ats verify --root` on an image's file system (unpacked once per image ID)."""
    return subprocess.run([sys.executable, "-m", "ats_roots", "verify", "--root",
                           dockerrun.rootfs(client, image)],
                          capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.parametrize("cell", cell_params("2 chains"), indirect=True)
def test_chains(cell, record_property):
    res = cell.chain_check(cell.image)
    if res.exit_code == 77:
        pytest.skip(res.last_line)
    record_property("detail", res.output.splitlines()[0])
    assert res.exit_code == 0, res.output


def _ses_commands(cell):
    """(add the test root, probe one region) as shell commands for this image."""
    if cell.has_ats:
        return ("ats install --extra-ca /pki/root.pem >/dev/null",
                "ats probe ses --region {}")
    if dockerrun.has_file(cell.client, cell.image, "/usr/bin/python3") and \
            dockerrun.has_file(cell.client, cell.image, "/usr/bin/openssl"):
        return ("python3 -I -S /usr/local/bin/ats-hook --extra-ca /pki/root.pem",
                "sh /checks/ses-openssl.sh {}")
    pytest.skip("neither ats nor python3 and openssl in this image")


@pytest.mark.parametrize("cell", cell_params("3 ses"), indirect=True)
def test_ses(cell, ses_network, ses_pki, record_property):
    add, probe = _ses_commands(cell)
    mounts = {**cell.mounts, str(ses_pki.dir): {"bind": "/pki", "mode": "ro"}}

    def shell(script):
        return dockerrun.run(cell.client, cell.image, [script], entrypoint=["/bin/sh", "-c"],
                             mounts=mounts, network=ses_network)

    before = shell(probe.format("us-east-1"))
    assert before.exit_code != 0, f"passed without the test root: {before.output}"
    assert ("certificate verify failed" in before.output
            or "unable to get local issuer certificate" in before.output), before.output
    both = " && ".join(probe.format(r) for r in ("us-east-1", "eu-west-1"))
    after = shell(f"{add} && {both}")
    assert after.exit_code == 0, after.output
    record_property("detail", f"{probe.split()[0]}: fails without the test root, "
                              "passes on all 6 ports x 2 regions with it")


@pytest.mark.parametrize("cell", cell_params("4 control"), indirect=True)
def test_negative_control(cell, record_property, runtimes):
    row = cell.row
    if not row.noamazon:
        pytest.skip("no roots-removed variant of this base")
    before = cell.chain_check(row.noamazon, cell.control_mounts(runtimes))
    assert before.exit_code == 1, (
        f"control base {row.noamazon} should fail check 2 but exited {before.exit_code}: "
        + before.output
    )
    assert "unable to get local issuer certificate" in before.output
    after = cell.chain_check(row.noamazon_image)
    assert after.exit_code == 0, f"{row.noamazon_image} after ats install: {after.output}"
    record_property("detail", f"{row.noamazon}: fails before; {row.noamazon_image}: passes")


@pytest.mark.parametrize("cell", cell_params("5 live"), indirect=True)
def test_live(cell, record_property):
    if os.environ.get("LIVE") != "1":
        pytest.skip("live mode off (make test-matrix LIVE=1 on a machine with internet)")
    if not cell.has_ats:
        pytest.skip("no ats in this image")
    script = ("ats probe ses --region us-east-1 --ports 587,465,443"
              " && python3 /checks/live_hosts.py")
    res = dockerrun.run(cell.client, cell.image, [script], entrypoint=["/bin/sh", "-c"],
                        mounts=cell.mounts)
    assert res.exit_code == 0, f"exit {res.exit_code}: {res.output.strip()}"
    record_property("detail", "real SES and demo hosts behave")


HOOK = os.path.join(matrixlib.REPO, "src", "ats_roots", "hook", "ats-hook")


@pytest.mark.parametrize("cell", cell_params("6 hook"), indirect=True)
def test_hook(cell, record_property, runtimes, hook_volumes):  # noqa: F811 - the fixture
    """Through the bundled hook (its own Python, from the ats-hook volume) on
    every row, and through the image's own python3 where it has one."""
    row = cell.row
    if not row.noamazon:
        pytest.skip("no roots-removed variant of this base")
    mounts = {**cell.control_mounts(runtimes), HOOK: {"bind": "/usr/local/bin/ats-hook",
                                                      "mode": "ro"}}
    check = ["/bin/sh", "/checks/chain-check.sh", "/fixtures"]
    ways = {}
    if row.arch in hookbundle.IMAGES:  # the bundle of the row's own architecture
        mounts.update(hookbundle.volume_mount(hook_volumes(row.arch)))
        ways["bundled"] = ["/ats/ats-hook", "--", *check]
    if not cell.borrowed:  # the image's own python3 (a borrowed one is only for the check)
        ways["python"] = ["python3", "-I", "-S", "/usr/local/bin/ats-hook", "--", *check]
    if not ways:
        pytest.skip(f"no python3 in this image and no ats-hook bundle for {row.arch} yet")
    for label, kw in hookbundle.users(row.arch):
        without = dockerrun.run(cell.client, row.noamazon, check, entrypoint=[],
                                mounts=mounts, **kw)
        assert without.exit_code == 1, f"{label}: passed without the hook: {without.output}"
        for way, hooked in ways.items():
            if label == "root" and way == "python" and len(ways) > 1 and row.arch != "amd64":
                # Under emulation a root start runs the distro's tool (Debian's,
                # ~60 s under qemu): once, through the bundle; the image's own
                # python3 runs the same hook as user 1000 below.
                continue
            through = dockerrun.run(cell.client, row.noamazon, hooked, entrypoint=[],
                                    mounts=mounts, **kw)
            assert through.exit_code == 0, f"{label}, {way} hook: {through.output}"
    as_root = "bundled" if len(ways) > 1 and row.arch != "amd64" else " and ".join(ways)
    tmpfs = "with and without a tmpfs" if row.arch == "amd64" else (
        "with a tmpfs (without one: on the amd64 rows)")
    record_property("detail", f"{row.noamazon}: fails without the hook, passes through the "
                              f"{as_root} hook as root, and through the {' and '.join(ways)} "
                              f"hook as user 1000 on a read-only root {tmpfs}")
