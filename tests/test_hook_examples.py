"""examples/k8s and examples/compose, checked without a cluster: each Kubernetes
manifest goes through the Kubernetes Python client's models (a field the API
does not know is dropped there, so a round trip that loses anything fails), and
the wiring each example depends on is checked: the hook image's tag is this
version, the volume the init container fills is the one the app reads. The
examples themselves run in the docker matrix (tests/matrix/test_hook_ways.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient

from ats_roots import __version__

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "examples" / "k8s"
COMPOSE = REPO / "examples" / "compose"
HOOK_IMAGE = f"ats-hook:{__version__}"
KINDS = {("apps/v1", "Deployment"): "V1Deployment", ("v1", "Pod"): "V1Pod"}


def through_models(doc: dict) -> dict:
    """doc as the Kubernetes client reads and writes it back."""
    api = ApiClient()
    model = api.deserialize(json.dumps(doc), KINDS[(doc["apiVersion"], doc["kind"])],
                            "application/json")
    return api.sanitize_for_serialization(model)


def manifests():
    return sorted(K8S.glob("*.yaml"))


def pod_spec(doc):
    return doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]


def mounts_of(container):
    return {m["name"]: m for m in container.get("volumeMounts", [])}


def check_wiring(doc) -> None:
    """The hook image copies itself into a volume the app side mounts at /ats."""
    spec = pod_spec(doc)
    volumes = {v["name"]: v for v in spec["volumes"]}
    first = spec["initContainers"][0]
    assert first["image"] == HOOK_IMAGE, first["image"]
    assert first["args"][0] == "--copy-bundle"
    (target,) = [m for m in first["volumeMounts"] if m["mountPath"] == first["args"][1]]
    assert "emptyDir" in volumes[target["name"]]
    users = spec["initContainers"][1:] + spec["containers"]
    hooked = [c for c in users if c.get("command", [""])[0] == "/ats/ats-hook"]
    assert hooked, "no container runs /ats/ats-hook"
    for c in hooked:
        mount = mounts_of(c)[target["name"]]
        assert mount["mountPath"] == "/ats" and mount.get("readOnly") is True, c["name"]
        assert c["command"][1] in ("--", "--export"), c["command"]
        if c["command"][1] == "--export":
            (out,) = [m for m in c["volumeMounts"] if m["mountPath"] == c["command"][2]]
            app = spec["containers"][0]
            env = {e["name"]: e["value"] for e in app["env"]}
            read = mounts_of(app)[out["name"]]
            assert read.get("readOnly") is True
            for var in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"):
                assert env[var] == read["mountPath"] + "/ca-bundle.pem", var


def test_there_are_both_kubernetes_patterns():
    assert [p.name for p in manifests()] == ["export.yaml", "wrap.yaml"]


@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_manifest_is_what_the_kubernetes_models_read(path):
    (doc,) = list(yaml.safe_load_all(path.read_text()))
    assert through_models(doc) == doc
    check_wiring(doc)


@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_a_broken_manifest_is_caught(path):
    """Negative controls: a misspelled field, and the app mounting another volume."""
    (doc,) = list(yaml.safe_load_all(path.read_text()))
    typo = copy.deepcopy(doc)
    app = pod_spec(typo)["containers"][0]
    app["volumeMount"] = app.pop("volumeMounts")
    assert through_models(typo) != typo
    rewired = copy.deepcopy(doc)
    for c in pod_spec(rewired)["initContainers"][:1]:
        c["volumeMounts"][0]["name"] = "elsewhere"
    with pytest.raises((AssertionError, KeyError, ValueError)):
        check_wiring(rewired)


@pytest.mark.parametrize("name", ["wrap.yml", "export.yml"])
def test_compose_examples_use_this_version(name):
    doc = yaml.safe_load((COMPOSE / name).read_text())
    image = doc["services"]["ats-hook"]["image"]
    assert image == "${ATS_HOOK_IMAGE:-" + HOOK_IMAGE + "}"
    assert doc["services"]["ats-hook"]["command"][0] == "--copy-bundle"
