"""`ats patch` without Docker: the layer it stages, the stores it changes,
the no-tool system step, labels, config checks, bad input."""

from __future__ import annotations

import os
import shutil
import tarfile
from types import SimpleNamespace

import audit_plants as plants
import jks
import pytest
from helpers import ats, one_error_line

from ats_roots.audit import audit_root
from ats_roots.audit.model import MISSING, OK, PINNED, Store
from ats_roots.errors import BadInput
from ats_roots.patch import image as patch_image
from ats_roots.patch import system as patch_system
from ats_roots.patch.build import _split_tag
from ats_roots.patch.layer import Layer
from ats_roots.patch.stores import patch_stores
from ats_roots.system.target import Target
from ats_roots.trust.certs import certs_to_install

CERTS = certs_to_install([])


@pytest.fixture(scope="module")
def cas():
    return plants.test_cas(12)


def overlay(root: str, layer: Layer, dest: str) -> str:
    """root with the layer on top: what the patched image's file system is."""
    shutil.copytree(root, dest, symlinks=True)
    for inner in layer.files():
        os.makedirs(os.path.dirname(dest + inner), exist_ok=True)
        if os.path.lexists(dest + inner):
            os.unlink(dest + inner)
        layer_host = layer.host(inner)
        if os.path.islink(layer_host):
            os.symlink(os.readlink(layer_host), dest + inner)
        else:
            shutil.copy2(layer_host, dest + inner)
    return dest


def test_layer_keeps_links_modes_and_lists_files(tmp_path):
    layer = Layer(str(tmp_path / "layer"), {"/etc/ssl/private": 0o700})
    layer.write("/etc/ssl/certs/a.pem", b"x", 0o600)
    layer.symlink("/etc/ssl/certs/1234abcd.0", "a.pem")
    layer.write("/etc/ssl/certs/a.pem", b"yy", 0o644)  # rewritten in place
    assert layer.files() == ["/etc/ssl/certs/1234abcd.0", "/etc/ssl/certs/a.pem"]
    assert layer.read("/etc/ssl/certs/a.pem") == b"yy" and layer.size() == 2 + len("a.pem")
    assert os.readlink(layer.host("/etc/ssl/certs/1234abcd.0")) == "a.pem"


def test_build_context_carries_the_images_directory_modes(tmp_path):
    layer = Layer(str(tmp_path / "layer"), {"/etc": 0o755, "/etc/ssl/private": 0o710})
    layer.write("/etc/ssl/private/k", b"k", 0o600)
    with tarfile.open(tmp_path / "ctx.tar", "w") as tar:
        tar.add(layer.root, arcname="layer", filter=patch_image._image_modes(layer))
    with tarfile.open(tmp_path / "ctx.tar") as tar:
        modes = {m.name: (m.mode, m.uid) for m in tar.getmembers()}
    assert modes["layer/etc/ssl/private"] == (0o710, 0)
    assert modes["layer/etc/ssl/private/k"] == (0o600, 0)


def test_java_and_bundles_patched_pinned_left(tmp_path, cas):
    root = str(tmp_path / "root")
    plants.Plant(
        "x",
        "",
        {
            plants.DEBIAN_JAVA: plants.jks_store(cas),
            plants.JDK21_CACERTS: plants.p12_truststore(cas),
            plants.BOTOCORE_BUNDLE: plants.pem_bundle(cas)[:-1],  # no final newline
            plants.PINNED_BUNDLE: plants.pem_bundle(cas[:1]),
            "/opt/locked/cacerts": plants.jks_store(cas, "unknown"),
        },
        {plants.JDK17_CACERTS: plants.DEBIAN_JAVA},
    ).write(root)
    before = audit_root(root, "changeit")
    layer = Layer(str(tmp_path / "layer"), {})
    lines = patch_stores(before, Target(root), layer, CERTS, "changeit")
    assert layer.files() == sorted(
        [plants.BOTOCORE_BUNDLE, plants.DEBIAN_JAVA, plants.JDK21_CACERTS]
    )  # at the real path, not the link
    assert any("/opt/locked/cacerts: left alone" in line for line in lines)
    entries = jks.KeyStore.loads(layer.read(plants.DEBIAN_JAVA), "changeit").certs
    assert {"ats-amazonrootca1", "ats-sfsrootcag2", "test-root-0"} <= set(entries)
    bundle = layer.read(plants.BOTOCORE_BUNDLE)
    assert b"-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----" in bundle[-9000:]
    after = {
        s.path: s.verdict
        for s in audit_root(overlay(root, layer, str(tmp_path / "after")), "changeit").stores
    }
    assert after[plants.DEBIAN_JAVA] == after[plants.JDK21_CACERTS] == OK
    assert after[plants.BOTOCORE_BUNDLE] == OK
    assert after[plants.PINNED_BUNDLE] == PINNED  # someone's decision: named, not changed
    assert after["/opt/locked/cacerts"] == MISSING


def test_no_tool_system_step_on_a_debian_without_ca_package(tmp_path):
    root = str(tmp_path / "root")
    plants.Plant(
        "bare",
        "",
        {"/etc/os-release": b"ID=debian\n"},
        {
            "/usr/lib/ssl/cert.pem": "/etc/ssl/certs/ca-certificates.crt",
            "/usr/lib/ssl/certs": "/etc/ssl/certs",
        },
    ).write(root)
    os.makedirs(root + "/etc/ssl/certs")
    before = audit_root(root, None)
    assert [s.verdict for s in before.stores] == [MISSING]
    layer = Layer(str(tmp_path / "layer"), {})
    work = str(tmp_path / "work")
    shutil.copytree(root, work, symlinks=True)  # the step writes on its sparse copy
    step = patch_system.patch_system(None, None, Target(work), CERTS, before, layer, False)
    assert step.mode == "notool" and "debian without" in step.lines[0]
    files = layer.files()
    assert "/etc/ssl/certs/ca-certificates.crt" in files and "/var/lib/ats-roots/manifest" in files
    assert sum(f.endswith(".0") for f in files) == 5
    after = audit_root(overlay(root, layer, str(tmp_path / "after")), None)
    assert {s.path: s.verdict for s in after.stores} == {
        "/etc/ssl/certs/ca-certificates.crt": OK,
        "/etc/ssl/certs": OK,
    }


def test_nothing_to_do_when_the_system_trusts_every_root(tmp_path):
    complete = Store(
        "/etc/ssl/certs/ca-certificates.crt", "system bundle", "system", {c.sha256 for c in CERTS}
    )
    report = SimpleNamespace(stores=[complete])
    step = patch_system.patch_system(
        None, None, Target(str(tmp_path)), CERTS, report, Layer(str(tmp_path / "l"), {}), False
    )
    assert step.mode == "none"


def test_tool_needs_its_interpreter(tmp_path):
    root = tmp_path
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/update-ca-certificates").write_bytes(b"#!/bin/sh\nexit 0\n")
    target = Target(str(root))
    assert (
        patch_system._missing_interpreter(target, "/usr/sbin/update-ca-certificates") == "/bin/sh"
    )
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(b"")
    (root / "bin/busybox").chmod(0o755)
    (root / "bin/sh").symlink_to("/bin/busybox")  # resolved inside the root, not the host
    assert patch_system._missing_interpreter(target, "/usr/sbin/update-ca-certificates") is None


def test_docker_diff_leaves_only_the_tools_work():
    diff = [
        {"Path": p, "Kind": k}
        for p, k in [
            ("/etc", 0),
            ("/etc/ssl", 0),
            ("/etc/ssl/certs", 0),
            ("/etc/ssl/certs/ab.0", 1),
            ("/etc/ssl/certs/ca-certificates.crt", 0),
            ("/tmp", 0),
            ("/tmp/x", 1),
            ("/etc/hosts", 0),
            ("/var/lib/ats-roots", 1),
            ("/etc/ssl/certs/old.0", 2),
        ]
    ]
    changed, removed = patch_system._changes(diff)
    assert changed == [
        "/etc/ssl/certs/ab.0",
        "/etc/ssl/certs/ca-certificates.crt",
        "/var/lib/ats-roots",
    ]
    assert removed == ["/etc/ssl/certs/old.0"]


def test_labels_carry_the_fingerprints():
    image = SimpleNamespace(id="sha256:" + "ab" * 32)
    extra = SimpleNamespace(sha256="cd" * 32)
    labels = patch_image.labels("app:1", image, CERTS + [extra], "tool")
    roots = labels["io.ats-roots.roots.sha256"].split(",")
    assert roots[0] == (
        "AmazonRootCA1=8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"
    )
    assert len(roots) == 5
    assert labels["io.ats-roots.extra-ca.sha256"] == "cd" * 32
    assert labels["io.ats-roots.patch.from"] == f"app:1@{image.id}"


def _image(config, layers=1, image_id="sha256:old"):
    return SimpleNamespace(
        id=image_id, attrs={"Config": config, "RootFS": {"Layers": [0] * layers}}
    )


def test_config_drift():
    old = _image(
        {
            "Entrypoint": None,
            "Cmd": ["/bin/sh"],
            "User": "",
            "Env": ["A=1"],
            "Labels": {"x": "1", "io.ats-roots.version": "0.0"},
        }
    )
    same = _image(
        {
            "Entrypoint": None,
            "Cmd": ["/bin/sh"],
            "User": "",
            "Env": ["A=1"],
            "Labels": {"x": "1", "io.ats-roots.version": "0.1.0", "io.ats-roots.y": "2"},
        }
    )
    assert patch_image.config_drift(old, same) == []
    bad = _image(
        {"Entrypoint": ["/x"], "Cmd": ["/bin/sh"], "User": "0", "Env": ["A=1"], "Labels": {}}
    )
    assert patch_image.config_drift(old, bad) == ["Entrypoint", "User", "label x"]


def test_config_drift_docker_default_path_on_an_image_without_env():
    """docker import gives no Env; commit and build add the Engine's default
    PATH (what its containers had anyway): not drift. Any other Env is."""
    imported = _image({"Cmd": ["/bin/sh"], "Env": None})
    defaulted = _image({"Cmd": ["/bin/sh"], "Env": patch_image.DOCKER_DEFAULT_ENV})
    assert patch_image.config_drift(imported, defaulted) == []
    other = _image({"Cmd": ["/bin/sh"], "Env": ["PATH=/opt/bin"]})
    assert patch_image.config_drift(imported, other) == ["Env"]
    had_env = _image({"Cmd": ["/bin/sh"], "Env": ["A=1"]})
    assert patch_image.config_drift(had_env, defaulted) == ["Env"]


def test_added_layers_from_history():
    old = _image({}, layers=1)
    new = _image({}, layers=2, image_id="sha256:new")
    new.history = lambda: [
        {"Id": "sha256:new", "Size": 0},
        {"Id": "<missing>", "Size": 5000},
        {"Id": "sha256:old", "Size": 9_000_000},
    ]
    assert patch_image.added_layers(old, new) == (1, 5000)


@pytest.mark.parametrize(
    ("tag", "split"),
    [
        ("app:patched", ("app", "patched")),
        ("app", ("app", "latest")),
        ("registry:5000/team/app", ("registry:5000/team/app", "latest")),
        ("registry:5000/team/app:v2", ("registry:5000/team/app", "v2")),
    ],
)
def test_tags(tag, split):
    patch_image.check_tag(tag)
    assert _split_tag(tag) == split


@pytest.mark.parametrize("tag", ["Bad Tag", "UPPER:case", "app:", "-app"])
def test_bad_tags(tag):
    with pytest.raises(BadInput):
        patch_image.check_tag(tag)


def test_onbuild_images_are_refused():
    with pytest.raises(BadInput, match="ONBUILD"):
        patch_image.refuse_onbuild(_image({"OnBuild": ["RUN make"]}))


def test_cli_bad_input_is_exit_2_before_any_docker_work(tmp_path):
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    assert ats("patch", "img", "--tag", "Bad Tag", env=env).returncode == 2
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    proc = ats("patch", "img", "--tag", "img:ok", "--extra-ca", str(not_pem), env=env)
    assert proc.returncode == 2 and "not a PEM" in one_error_line(proc)
    proc = ats("patch", "img", "--tag", "img:ok", env=env)  # good input, no engine
    assert proc.returncode == 3 and "no Docker Engine" in one_error_line(proc)


def test_layer_tar_has_no_directory_entries(tmp_path):
    """A directory entry would reset the mode and owner of the image's own."""
    layer = Layer(str(tmp_path / "layer"), {})
    layer.write("/etc/ssl/certs/ca-certificates.crt", b"pem", 0o644)
    layer.symlink("/etc/ssl/certs/ce5e74ef.0", "ats-AmazonRootCA1.pem")
    import io

    with tarfile.open(fileobj=io.BytesIO(patch_image._layer_tar(layer))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ce5e74ef.0"}
    assert members["etc/ssl/certs/ce5e74ef.0"].linkname == "ats-AmazonRootCA1.pem"
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}


@pytest.mark.parametrize(
    ("config", "files", "way"),
    [
        ({"Cmd": ["/bin/sh"]}, True, "commit"),
        ({"Entrypoint": ["/app"]}, True, "commit"),
        ({"Entrypoint": None, "Cmd": None}, True, "build"),  # docker needs a command
        ({"Cmd": ["/bin/sh"]}, False, "build"),  # labels only: no layer at all
    ],
)
def test_commit_or_build(tmp_path, monkeypatch, config, files, way):
    layer = Layer(str(tmp_path / "layer"), {})
    if files:
        layer.write("/etc/x.pem", b"x")
    monkeypatch.setattr(patch_image, "commit", lambda *a: "commit")
    monkeypatch.setattr(patch_image, "build", lambda *a: "build")
    assert patch_image.make_image(None, _image(config), layer, {}) == way
