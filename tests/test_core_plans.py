"""Every family's plan, on synthetic roots: a directory with an os-release and
stub tools (plans only look for the tools; --dry-run runs nothing). macOS and
Windows act only on their own platform, so their exact commands are checked
through the module functions."""

from __future__ import annotations

import json
import os
import platform

import pytest
from helpers import ats, one_error_line, pinned_shas, synthetic_root, tree_digest

from ats_roots.system import families, layout
from ats_roots.system.families import macos, windows
from ats_roots.system.target import Target
from ats_roots.trust.certs import ats_certs

SLUGS = ["AmazonRootCA1", "AmazonRootCA2", "AmazonRootCA3", "AmazonRootCA4", "SFSRootCAG2"]
DEB_TOOL = "/usr/sbin/update-ca-certificates"
RHEL_TOOL = "/usr/bin/update-ca-trust"

TOOL_CASES = {
    "debian": ('ID=debian\nVERSION_ID="12"\n', DEB_TOOL, "debian"),
    "ubuntu": ("ID=ubuntu\nID_LIKE=debian\n", DEB_TOOL, "debian"),
    "rhel": ('ID="rhel"\nID_LIKE="fedora"\n', RHEL_TOOL, "rhel"),
    "fedora": ("ID=fedora\n", RHEL_TOOL, "rhel"),
    "centos": ('ID="centos"\nID_LIKE="rhel fedora"\n', RHEL_TOOL, "rhel"),
    "rocky": ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', RHEL_TOOL, "rhel"),
    "alma": ('ID="almalinux"\nID_LIKE="rhel centos fedora"\n', RHEL_TOOL, "rhel"),
    "ol": ('ID="ol"\nID_LIKE="fedora"\n', RHEL_TOOL, "rhel"),
    "amzn": ('ID="amzn"\nID_LIKE="fedora"\n', RHEL_TOOL, "rhel"),
    "alpine": ("ID=alpine\n", DEB_TOOL, "alpine"),
    "opensuse": ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', DEB_TOOL, "suse"),
    "sles": ('ID="sles"\nID_LIKE="suse"\n', DEB_TOOL, "suse"),
    "arch": ("ID=arch\n", "/usr/bin/trust", "arch"),
}
EXPECT = {
    "debian": ("/usr/local/share/ca-certificates", ".crt", [DEB_TOOL]),
    "alpine": ("/usr/local/share/ca-certificates", ".crt", [DEB_TOOL]),
    "rhel": ("/etc/pki/ca-trust/source/anchors", ".pem", [RHEL_TOOL, "extract"]),
    "suse": ("/etc/pki/trust/anchors", ".pem", [DEB_TOOL]),
    "arch": (
        "/etc/ca-certificates/trust-source/anchors",
        ".crt",
        ["/usr/bin/trust", "extract-compat"],
    ),
}


def dry_run(root, *more) -> dict:
    before = tree_digest(root)
    proc = ats("install", "--root", root, "--dry-run", "--json", *more)
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(root) == before  # a dry run touches nothing
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True
    return plan


@pytest.mark.parametrize("case", sorted(TOOL_CASES))
def test_family_with_its_tool(tmp_path, case):
    os_release, tool, family = TOOL_CASES[case]
    root = synthetic_root(tmp_path / "root", os_release, tools=[tool])
    plan = dry_run(root)
    anchor_dir, suffix, command = EXPECT[family]
    assert plan["family"] == family
    assert [w["path"] for w in plan["writes"]] == [f"{anchor_dir}/ats-{s}{suffix}" for s in SLUGS]
    assert plan["commands"] == [command]
    assert plan["links"] == [] and plan["removes"] == []
    assert "force-enable" not in json.dumps(plan)


@pytest.mark.parametrize("case", sorted(TOOL_CASES))
def test_same_distro_without_the_tool_falls_back_to_notool(tmp_path, case):
    os_release, tool, family = TOOL_CASES[case]
    root = synthetic_root(tmp_path / "root", os_release)
    plan = dry_run(root)
    assert plan["family"] == "notool"
    ossl = {lay.name: lay for lay in layout.TOOL_FAMILIES}[family].openssl_dir
    assert f"OPENSSLDIR {ossl}" in plan["notes"]
    assert any(n.startswith(f"{family} without ") for n in plan["notes"])
    writes = [w["path"] for w in plan["writes"]]
    assert writes[:2] == [f"{ossl}/cert.pem", "/etc/ssl/certs/ca-certificates.crt"]
    assert writes[2:] == [f"{ossl}/certs/ats-{s}.pem" for s in SLUGS]
    assert len(plan["links"]) == 5 and plan["commands"] == []


def test_alpine_without_the_tool_writes_into_etc_ssl(tmp_path):
    root = synthetic_root(tmp_path / "root", "ID=alpine\n")
    plan = dry_run(root)
    assert plan["family"] == "notool"
    assert "alpine without /usr/sbin/update-ca-certificates" in plan["notes"]
    assert [w["path"] for w in plan["writes"]][:2] == [
        "/etc/ssl/cert.pem",
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    assert {k["to"] for k in plan["links"]} == {f"ats-{s}.pem" for s in SLUGS}


def test_any_distro_laid_out_the_p11_kit_way_is_arch_family(tmp_path):
    root = synthetic_root(tmp_path / "root", "ID=gentoo\n", tools=["/usr/bin/trust"])
    (root / "etc/ca-certificates/trust-source").mkdir(parents=True)
    assert dry_run(root)["family"] == "arch"
    # Negative control: without that directory it is an unknown distribution.
    (root / "etc/ca-certificates/trust-source").rmdir()
    proc = ats("install", "--root", root, "--dry-run")
    assert proc.returncode == 2 and "unknown distribution ['gentoo']" in one_error_line(proc)


def test_extra_ca_gets_its_own_anchor(tmp_path):
    from helpers import make_ca

    ca = make_ca(tmp_path / "site.pem")
    root = synthetic_root(tmp_path / "root", "ID=debian\n", tools=[DEB_TOOL])
    writes = [w["path"] for w in dry_run(root, "--extra-ca", ca)["writes"]]
    assert len(writes) == 6 and writes[5].startswith("/usr/local/share/ca-certificates/ats-extra-")
    # An extra CA that is one of the pinned roots is not installed twice.
    from helpers import DATA

    writes = [w["path"] for w in dry_run(root, "--extra-ca", DATA / "AmazonRootCA2.pem")["writes"]]
    assert len(writes) == 5


def test_forced_family(tmp_path):
    root = synthetic_root(tmp_path / "root", "ID=plan9\n", tools=[RHEL_TOOL, DEB_TOOL])
    assert ats("install", "--root", root, "--dry-run").returncode == 2  # unknown ID
    assert dry_run(root, "--family", "rhel")["family"] == "rhel"
    assert dry_run(root, "--family", "suse")["family"] == "suse"
    plan = dry_run(root, "--family", "notool")
    assert plan["family"] == "notool" and "chosen with --family notool" in plan["notes"]
    # Forced onto a root without that family's tool: refused before any change.
    before = tree_digest(root)
    proc = ats("install", "--root", root, "--family", "arch")
    assert proc.returncode == 3
    assert "/usr/bin/trust" in one_error_line(proc)
    assert tree_digest(root) == before
    for bad in ("macos", "windows"):
        proc = ats("install", "--root", root, "--family", bad)
        assert proc.returncode == 2 and "only acts on this system" in one_error_line(proc)
    proc = ats("install", "--root", root, "--family", "bogus")
    assert proc.returncode == 2 and "unknown family 'bogus'" in one_error_line(proc)
    assert tree_digest(root) == before


KEYCHAIN = "/Library/Keychains/System.keychain"


def test_macos_commands():
    mac = macos.MacOS()
    assert mac.install_command("/tmp/x.pem") == [
        "security",
        "add-trusted-cert",
        "-d",
        "-r",
        "trustRoot",
        "-k",
        KEYCHAIN,
        "/tmp/x.pem",
    ]
    assert mac.check == ("security", "find-certificate", "-a", "-Z", KEYCHAIN)
    certs = ats_certs()
    trusted = {pinned_shas()[0]}  # Amazon Root CA 1 is already in the keychain
    plan = mac.plan_install(Target("/"), certs, trusted)
    staged = [os.path.join(mac.staging, f"ats-{s}.pem") for s in SLUGS[1:]]
    assert plan.commands == [mac.install_command(p) for p in staged]
    # each file the tool reads is written by the plan first, with the root's bytes
    assert [w.path for w in plan.writes] == staged
    assert [w.data for w in plan.writes] == [c.pem for c in certs[1:]]


def test_windows_commands():
    win = windows.Windows()
    assert win.install_command("ats-x.pem") == [
        "certutil",
        "-addstore",
        "-f",
        "ROOT",
        "ats-x.pem",
    ]
    assert win.check == ("certutil", "-store", "ROOT")
    plan = win.plan_install(Target("/"), ats_certs(), set(pinned_shas()[4:]))
    staged = [os.path.join(win.staging, f"ats-{s}.pem") for s in SLUGS[:4]]
    assert plan.commands == [win.install_command(p) for p in staged]
    assert [w.path for w in plan.writes] == staged


def test_macos_and_windows_detect_only_their_own_host(tmp_path, monkeypatch):
    host, image = Target("/"), Target(str(tmp_path))
    assert not macos.MacOS().detect(host, []) and not windows.Windows().detect(host, [])
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert macos.MacOS().detect(host, [])
    assert not macos.MacOS().detect(image, [])  # an image is never the keychain
    assert families.detect(host).name == "macos"
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    assert windows.Windows().detect(host, []) and not windows.Windows().detect(image, [])
    assert families.detect(host).name == "windows"
