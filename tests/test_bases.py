"""The local base images (scripts/build-bases) are what they claim to be.

Real containers through the Docker SDK. The negative controls matter most: the
"noamazon" bases must really lack the ATS roots, or every later test that shows
`ats` adding them proves nothing.

Missing Docker or missing images: skip, unless ATS_REQUIRE_DOCKER=1 (CI), then fail.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import sys
from pathlib import Path

import pytest
from helpers import need

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bases import builders, emulation  # noqa: E402
from bases import main as bases_main  # noqa: E402
from bases import util as bases_util  # noqa: E402
from bases.main import dependencies  # noqa: E402
from bases.recipes import BASES as RECIPES  # noqa: E402
from bases.recipes import BY_NAME, recipe  # noqa: E402

pytestmark = pytest.mark.docker

FIXTURES = Path(__file__).parent / "fixtures" / "ats-public"
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
AMAZON_ROOT_CA_1 = "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E"
# All five ATS roots (SOURCES.md); the negative controls must have none of them.
ATS_ROOTS = {
    AMAZON_ROOT_CA_1,
    "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
    "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
    "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
    "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
}

# image -> (os-release ID, VERSION_CODENAME or VERSION_ID prefix, flavor, has-python)
BASES = {
    "ats-local/debian:bookworm": ("debian", "bookworm", "debian", "yes"),
    "ats-local/debian:trixie": ("debian", "trixie", "debian", "yes"),
    "ats-local/debian-bare:bookworm": ("debian", "bookworm", "debian", "minimal"),
    "ats-local/debian-noamazon:bookworm": ("debian", "bookworm", "debian", "yes"),
    "ats-local/alpine:3.23": ("alpine", "3.23.", "alpine", "no"),
    "ats-local/alpine-python:3.23": ("alpine", "3.23.", "alpine", "yes"),
    "ats-local/alpine-noamazon:3.23": ("alpine", "3.23.", "alpine", "no"),
    # arm64 (Graviton), built and run under qemu-user emulation
    "ats-local/debian:bookworm-arm64": ("debian", "bookworm", "debian", "yes"),
    "ats-local/debian-bare:bookworm-arm64": ("debian", "bookworm", "debian", "minimal"),
    "ats-local/debian-noamazon:bookworm-arm64": ("debian", "bookworm", "debian", "yes"),
    "ats-local/alpine:3.23-arm64": ("alpine", "3.23.", "alpine", "no"),
    "ats-local/alpine-python:3.23-arm64": ("alpine", "3.23.", "alpine", "yes"),
    "ats-local/alpine-noamazon:3.23-arm64": ("alpine", "3.23.", "alpine", "no"),
}
ARM64 = [name for name in BASES if name.endswith("-arm64")]
WITH_AMAZON = [
    "ats-local/debian:bookworm",
    "ats-local/debian:trixie",
    "ats-local/alpine:3.23",
    "ats-local/alpine-python:3.23",
    "ats-local/debian:bookworm-arm64",
    "ats-local/alpine:3.23-arm64",
    "ats-local/alpine-python:3.23-arm64",
]
WITHOUT_AMAZON = [
    "ats-local/debian-noamazon:bookworm",
    "ats-local/alpine-noamazon:3.23",
    "ats-local/debian-noamazon:bookworm-arm64",
    "ats-local/alpine-noamazon:3.23-arm64",
]


def unavailable(reason: str):
    """Skip locally; fail in CI, where a missing base means the build is broken."""
    need(False, reason, "DOCKER")


@pytest.fixture(scope="module")
def client():
    try:
        import docker
    except ImportError:
        unavailable("the docker Python SDK is not installed")
    try:
        engine = docker.from_env()
        engine.ping()
    except Exception as err:  # any failure to reach the engine means "no Docker"
        unavailable(f"Docker Engine not reachable: {err}")
    yield engine
    engine.close()


@pytest.fixture
def image(client, request):
    """The image named by the test's parameter, which must exist."""
    import docker

    name = request.param
    if name in ARM64:
        why = emulation.status()
        need(why is None, f"{name}: {why}", "ARM64")
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        unavailable(f"{name} is not built; run scripts/build-bases")


def run(client, image, command: list, env: dict | None = None) -> tuple:
    """Run a throwaway container without network; return (exit code, output)."""
    container = client.containers.create(
        image.id, command, environment=env or {}, network_disabled=True
    )
    try:
        container.start()
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)


def _tag(image) -> str:
    """The ats-local/* tag of an image object (it may carry other tags too)."""
    return next(t for t in image.tags if t in BASES)


def fingerprints(pem_bundle: str) -> set:
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem_bundle, re.S)
    return {hashlib.sha256(ssl.PEM_cert_to_DER_cert(p)).hexdigest().upper() for p in pems}


def bundle_of(client, image) -> str:
    code, out = run(client, image, ["cat", BUNDLE])
    assert code == 0, f"{BUNDLE} unreadable: {out}"
    return out


def openssl_verify(client, image, pem: Path) -> tuple:
    """openssl verify -CApath /etc/ssl/certs of a fixture, passed in through the env."""
    script = (
        'printf "%s\\n" "$PEM" > /tmp/c.pem && openssl verify -CApath /etc/ssl/certs /tmp/c.pem'
    )
    return run(client, image, ["sh", "-c", script], env={"PEM": pem.read_text()})


@pytest.mark.parametrize("image", list(BASES), indirect=True)
def test_os_release_names_the_right_distro(client, image):
    distro_id, version, _, _ = BASES[_tag(image)]
    code, out = run(client, image, ["cat", "/etc/os-release"])
    assert code == 0, out
    fields = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', out, re.M))
    assert fields["ID"] == distro_id
    if distro_id == "debian":
        assert fields["VERSION_CODENAME"] == version
    else:
        assert fields["VERSION_ID"].startswith(version)


@pytest.mark.parametrize("image", list(BASES), indirect=True)
def test_labels_say_where_the_base_came_from(image):
    _, _, flavor, has_python = BASES[_tag(image)]
    labels = image.labels
    assert labels["io.ats-roots.base.flavor"] == flavor
    assert labels["io.ats-roots.base.has-python"] == has_python
    assert re.fullmatch(r"[0-9a-f]{64}", labels["io.ats-roots.base.recipe"])
    assert labels["io.ats-roots.base.origin"]
    assert labels["org.opencontainers.image.title"]
    assert image.attrs["Config"]["Cmd"] == ["/bin/sh"]


@pytest.mark.parametrize(
    "image", ["ats-local/debian-bare:bookworm", "ats-local/debian-bare:bookworm-arm64"],
    indirect=True,
)
def test_debian_bare_has_no_ca_bundle(client, image):
    code, out = run(client, image, ["sh", "-c", f"test ! -e {BUNDLE} && dpkg -s ca-certificates"])
    assert code == 1, f"expected no bundle and no ca-certificates package: {out}"
    assert "is not installed" in out


@pytest.mark.parametrize("image", WITH_AMAZON, indirect=True)
def test_bundle_has_amazon_root_ca_1(client, image):
    assert AMAZON_ROOT_CA_1 in fingerprints(bundle_of(client, image))


@pytest.mark.parametrize("image", WITHOUT_AMAZON, indirect=True)
def test_negative_control_bundle_has_no_ats_root(client, image):
    found = fingerprints(bundle_of(client, image))
    assert len(found) > 100, "the rest of the Mozilla roots should still be there"
    assert not found & ATS_ROOTS


@pytest.mark.parametrize(
    "image",
    ["ats-local/debian:bookworm", "ats-local/debian:trixie", "ats-local/debian:bookworm-arm64"],
    indirect=True,
)
def test_openssl_verifies_an_amazon_intermediate(client, image):
    code, out = openssl_verify(client, image, FIXTURES / "r2m02.pem")
    assert code == 0 and out.strip().endswith(": OK"), out


@pytest.mark.parametrize(
    "image",
    ["ats-local/debian-noamazon:bookworm", "ats-local/debian-noamazon:bookworm-arm64"],
    indirect=True,
)
def test_negative_control_openssl_cannot_verify(client, image):
    code, out = openssl_verify(client, image, FIXTURES / "r2m02.pem")
    assert code != 0, out
    assert "error 20 at 0 depth lookup" in out  # unable to get local issuer certificate


@pytest.mark.parametrize("image", ["ats-local/alpine-python:3.23"], indirect=True)
def test_alpine_python_runs_python3_with_system_openssl(client, image):
    probe = (
        "import json, shutil, ssl, sys; paths = ssl.get_default_verify_paths(); "
        "print(sys.version_info[:2], ssl.OPENSSL_VERSION, paths.cafile)"
    )
    code, out = run(client, image, ["python3", "-c", probe])
    assert code == 0, out
    assert out.startswith("(3, 13) OpenSSL 3."), out
    assert out.strip().endswith("/etc/ssl/cert.pem"), out
    code, out = run(client, image, ["python3", "-m", "pip", "--version"])
    assert code == 0 and out.startswith("pip "), out


@pytest.mark.parametrize("image", ARM64, indirect=True)
def test_arm64_base_says_arm64_and_runs_aarch64(client, image):
    """The config tells the truth (docker import alone would say amd64), and the
    binaries in it are arm64: uname -m under emulation says aarch64."""
    assert (image.attrs["Architecture"], image.attrs.get("Variant")) == ("arm64", "v8")
    code, out = run(client, image, ["uname", "-m"])
    assert (code, out.strip()) == (0, "aarch64")


@pytest.mark.parametrize("image", [n.removesuffix("-arm64") for n in ARM64], indirect=True)
def test_amd64_counterpart_says_amd64(client, image):
    """Negative control of the test above: the same check tells them apart."""
    assert image.attrs["Architecture"] == "amd64"
    code, out = run(client, image, ["uname", "-m"])
    assert (code, out.strip()) == (0, "x86_64")


def test_arm64_recipes_differ_and_amd64_recipes_have_no_arch():
    """Each arm64 base has its own recipe; adding arm64 changed no amd64 hash
    (arch lives in params only when it is not amd64)."""
    for base in RECIPES:
        if base.arch == "arm64":
            twin = BY_NAME[base.name.removesuffix("-arm64")]
            assert recipe(base) != recipe(twin)
            assert base.parent == (f"{twin.parent}-arm64" if twin.parent else None)
        else:
            assert "arch" not in base.params


def test_debian_bases_wait_for_the_first_of_their_suite_and_arch():
    """So that the shared apt cache downloads each .deb once."""
    deps = dependencies(list(RECIPES))
    assert deps["debian:bookworm"] == set()
    assert deps["debian:trixie"] == set()  # another suite: builds beside bookworm
    assert deps["debian-bare:bookworm"] == {"debian:bookworm"}
    assert deps["debian-mail:bookworm"] == {"debian:bookworm"}
    assert deps["debian:bookworm-arm64"] == set()  # another arch: its own downloads
    # emulated: the longest chain, so the two arm64 mmdebstraps run side by side
    assert deps["debian-bare:bookworm-arm64"] == set()
    assert deps["debian-noamazon:bookworm"] == {"debian:bookworm"}  # its parent
    assert deps["alpine-python:3.23-arm64"] == {"alpine:3.23-arm64"}
    # and the amd64 twin whose CA store it may take (builders.shared_store)
    assert deps["debian-noamazon:bookworm-arm64"] == {
        "debian:bookworm-arm64", "debian-noamazon:bookworm", "debian:bookworm"}
    assert deps["alpine-noamazon:3.23-arm64"] == {"alpine:3.23-arm64"}  # apk's is arch-any


def test_emulation_status_names_what_is_missing(tmp_path, monkeypatch):
    """Where binfmt_misc is not mounted the arm64 rows must say so."""
    monkeypatch.setattr(emulation, "BINFMT", tmp_path)
    monkeypatch.setattr(emulation, "ENTRY", tmp_path / "qemu-aarch64")
    assert emulation.status() == "no binfmt_misc"
    (tmp_path / "register").write_text("")
    assert emulation.status() == "no binfmt_misc entry for qemu-aarch64"
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OP\n")
    assert "without the F flag" in emulation.status()
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\n")
    assert emulation.status() is None


# -- the arm64 Debian negative control's CA store, taken from its amd64 twin --


def _current_tar(name: str):
    base = BY_NAME[name]
    return bases_main.tar_path(base) if bases_main.read_stamp(base) else None


@pytest.fixture
def arm64_rootfs(tmp_path):
    """The arm64 Debian base's tree, as build_no_amazon starts from it, with the
    amd64 twins' tarballs (skipped where they are not built)."""
    need(os.geteuid() == 0, "unpacking a root file system needs root", "ROOTFS")
    for name in ("debian:bookworm-arm64", "debian:bookworm", "debian-noamazon:bookworm"):
        need(_current_tar(name) is not None,
             f"no current tarball of {name}; run scripts/build-bases", "ROOTFS")
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    bases_util.unpack(_current_tar("debian:bookworm-arm64"), rootfs)
    return rootfs


def _context(tmp_path):
    return builders.Context(tmp_path, tmp_path, tmp_path, tar_of=_current_tar)


def test_shared_store_is_the_twins_bytes(arm64_rootfs, tmp_path):
    """The arm64 control gets exactly the store the amd64 twin's tool run made,
    and it lacks the ATS roots."""
    base = BY_NAME["debian-noamazon:bookworm-arm64"]
    twin = builders.amd64_twin(base)
    assert twin is BY_NAME["debian-noamazon:bookworm"]
    assert builders.shared_store(base, arm64_rootfs, twin, _context(tmp_path)) is None
    got = builders.tree_index(arm64_rootfs, builders.CA_INPUTS)
    assert got == builders.tar_index(_current_tar(twin.name), builders.CA_INPUTS)
    builders.require_amazon(base, arm64_rootfs, present=False)


def test_shared_store_refuses_a_changed_input(arm64_rootfs, tmp_path):
    """Negative control: one byte of one certificate differs from the twin's input,
    so the store is not taken (the build then runs the tool) and nothing changed."""
    base = BY_NAME["debian-noamazon:bookworm-arm64"]
    cert = next((arm64_rootfs / "usr/share/ca-certificates/mozilla").glob("*.crt"))
    cert.write_bytes(cert.read_bytes().replace(b"-----END", b"-----END ", 1))
    before = builders.tree_index(arm64_rootfs, builders.CA_INPUTS)
    why = builders.shared_store(base, arm64_rootfs, builders.amd64_twin(base), _context(tmp_path))
    assert why and "inputs differ" in why
    assert builders.tree_index(arm64_rootfs, builders.CA_INPUTS) == before


def test_shared_store_refuses_another_tool_version(arm64_rootfs, tmp_path):
    """Negative control: another openssl (rehash names the links) than the twin's."""
    base = BY_NAME["debian-noamazon:bookworm-arm64"]
    status = arm64_rootfs / "var/lib/dpkg/status"
    text = status.read_text()
    version = builders.package_versions(arm64_rootfs)["openssl"][0]
    marker = "Package: openssl\n"
    head, _, tail = text.partition(marker)
    status.write_text(head + marker + tail.replace(f"Version: {version}", "Version: 0.0-1", 1))
    why = builders.shared_store(base, arm64_rootfs, builders.amd64_twin(base), _context(tmp_path))
    assert why and why.startswith("openssl")


def test_only_emulated_debian_controls_have_a_twin():
    assert builders.amd64_twin(BY_NAME["debian-noamazon:bookworm"]) is None
    assert builders.amd64_twin(BY_NAME["alpine-noamazon:3.23-arm64"]) is None
    assert builders.amd64_twin(BY_NAME["debian:bookworm-arm64"]) is None  # not a control
