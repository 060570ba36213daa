"""The hook that brings its own Python (ats-hook:<version>), each way in.

6 hook (scratch)  an image FROM scratch with only a CA bundle (the roots-removed
                  Debian one) and a static Go client: check 2 fails without the
                  hook, passes through it (root; user 1000 read-only, with and
                  without a tmpfs)
6 hook (ways)     --volumes-from a container of the hook image; the issue's
                  reproduction (SSL_CERT_FILE & co. already naming the roots-
                  removed system bundle, user 1000, enforce); signals and exit
                  codes (docker stop's SIGTERM reaches CMD as PID 1)
init              examples/compose/wrap.yml and export.yml run with docker-compose
                  as written, the app image being alpine without Python: its own
                  curl reaches the SES stand-in (SMTP STARTTLS 587, HTTPS 443) and
                  the Amazon intermediates verify with its own libcrypto; each
                  fails without the hook

Check 6 on the rows of images/matrix.toml is in test_matrix.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid

import docker
import dockerrun
import hookbundle
import matrixlib
import pytest
from hookbundle import hook_volume, hook_volumes  # noqa: F401 - fixtures (one needs the other)

REQUIRE_DOCKER = os.environ.get("ATS_REQUIRE_DOCKER") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH_DIR = os.path.join(HERE, "scratch")
SCRATCH_IMAGE = "atshook-scratch:test"
DEBIAN_NOAMAZON = "ats-local/debian-noamazon:bookworm"
ALPINE_NOAMAZON = "ats-local/alpine-noamazon:3.23"
EXAMPLES = os.path.join(matrixlib.REPO, "examples", "compose")
GO_CACHE = os.path.join(matrixlib.REPO, ".cache", "go-build")


def require(what: str, found) -> None:
    if not found:
        if REQUIRE_DOCKER:
            pytest.fail(f"{what} is required for the matrix (ATS_REQUIRE_DOCKER=1)")
        pytest.skip(f"{what} not found")


def have_image(client, ref: str) -> str:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is missing: run make bases")
    return ref


# --- a FROM scratch image: a static Go client and a CA bundle, nothing else


@pytest.fixture(scope="session")
def scratch_image(docker_client):
    """Built from local material: chaincheck.go (CGO_ENABLED=0) and the CA
    bundle of the roots-removed Debian base, copied out of that image."""
    require("go (Debian: golang-go)", shutil.which("go"))
    have_image(docker_client, DEBIAN_NOAMAZON)
    with tempfile.TemporaryDirectory(prefix="atshook-scratch-") as ctx:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": ctx,
               "CGO_ENABLED": "0", "GOCACHE": GO_CACHE, "GOPATH": os.path.join(ctx, "go"),
               "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        binary, source = os.path.join(ctx, "chaincheck"), os.path.join(SCRATCH_DIR, "chaincheck.go")
        subprocess.run(["go", "build", "-trimpath", "-ldflags=-s", "-o", binary, source],
                       env=env, check=True, capture_output=True, timeout=600)
        shutil.copy(os.path.join(SCRATCH_DIR, "Dockerfile"), ctx)
        container = docker_client.containers.create(DEBIAN_NOAMAZON, entrypoint=["/nonexistent"])
        try:
            stream, _ = container.get_archive("/etc/ssl/certs/ca-certificates.crt")
            with tempfile.TemporaryFile() as tmp:
                for chunk in stream:
                    tmp.write(chunk)
                tmp.seek(0)
                with tarfile.open(fileobj=tmp) as tar:
                    member = tar.getmembers()[0]
                    with tar.extractfile(member) as src, \
                            open(os.path.join(ctx, "ca-certificates.crt"), "wb") as out:
                        shutil.copyfileobj(src, out)
        finally:
            container.remove(force=True)
        docker_client.images.build(path=ctx, tag=SCRATCH_IMAGE, rm=True)
    return SCRATCH_IMAGE


@pytest.mark.cell("scratch-static", "6 hook")
def test_scratch_image(docker_client, scratch_image, hook_volume, record_property):  # noqa: F811
    mounts = hookbundle.volume_mount(hook_volume)
    check = ["/chaincheck", "/fixtures"]
    for label, kw in hookbundle.USERS:
        without = dockerrun.run(docker_client, scratch_image, check, entrypoint=[],
                                mounts=mounts, **kw)
        assert without.exit_code == 1, f"{label}: passed without the hook: {without.output}"
        assert "certificate signed by unknown authority" in without.output
        through = dockerrun.run(docker_client, scratch_image, ["--", *check],
                                entrypoint=["/ats/ats-hook"], mounts=mounts, **kw)
        assert through.exit_code == 0, f"{label}: through the hook: {through.output}"
        assert "private CA bundle" in through.output  # no os-release: never the system
    record_property("detail", "FROM scratch, static Go client: fails without the hook, passes "
                              "through the bundled hook as root and user 1000 read-only")


# --- --volumes-from; variables already set; signals and exit codes


@pytest.fixture
def hook_container(docker_client):
    """A container of the hook image, never started: its /ats for --volumes-from."""
    hookbundle.require_hook_image(docker_client)
    name = f"{hookbundle.PREFIX}src-{uuid.uuid4().hex[:8]}"
    container = docker_client.containers.create(hookbundle.HOOK_IMAGE, ["--version"], name=name,
                                                volumes=["/ats"])
    yield name
    container.remove(force=True, v=True)


def run_with(client, image, argv, entrypoint, volumes_from, **kw):
    container = client.containers.run(
        image, argv, entrypoint=entrypoint, volumes=dict(dockerrun.STANDARD_MOUNTS),
        volumes_from=volumes_from, detach=True, name=f"atshook-{uuid.uuid4().hex[:10]}", **kw)
    try:
        status = container.wait(timeout=120)
        return dockerrun.Result(status["StatusCode"],
                                container.logs().decode("utf-8", "replace"))
    finally:
        container.remove(force=True)


@pytest.mark.cell("debian --volumes-from", "6 hook")
def test_volumes_from(docker_client, hook_container, record_property):
    check = ["/bin/sh", "/checks/chain-check.sh", "/fixtures"]
    for label, kw in hookbundle.USERS:
        without = run_with(docker_client, DEBIAN_NOAMAZON, check, [], [], **kw)
        assert without.exit_code == 1, f"{label}: {without.output}"
        through = run_with(docker_client, DEBIAN_NOAMAZON, ["--", *check], ["/ats/ats-hook"],
                           [f"{hook_container}:ro"], **kw)
        assert through.exit_code == 0, f"{label}: {through.output}"
    record_property("detail", "--volumes-from a container of the hook image: passes as root and "
                              "user 1000 read-only")


@pytest.mark.cell("debian vars already set", "6 hook")
def test_variables_already_set(docker_client, hook_volume, record_property):  # noqa: F811
    """The issue's reproduction, in a real roots-removed Debian: the variables
    name its system bundle; user 1000, read-only, enforce (the default)."""
    system = "/etc/ssl/certs/ca-certificates.crt"
    env = {v: system for v in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")}
    check = ["/bin/sh", "/checks/chain-check.sh", "/fixtures"]
    # openssl verify reads SSL_CERT_FILE; the three must each name a bundle with the roots
    names = ("for v in SSL_CERT_FILE REQUESTS_CA_BUNDLE AWS_CA_BUNDLE; do eval f=\\$$v; "
             "[ \"$f\" != " + system + " ] && grep -c BEGIN \"$f\"; done")
    mounts = hookbundle.volume_mount(hook_volume)
    kw = dict(hookbundle.USERS[1][1], environment=env, mounts=mounts)
    without = dockerrun.run(docker_client, DEBIAN_NOAMAZON, check, entrypoint=[], **kw)
    assert without.exit_code == 1, without.output
    through = dockerrun.run(docker_client, DEBIAN_NOAMAZON,
                            ["--", "/bin/sh", "-c", names + " && exec \"$@\"", "sh", *check],
                            entrypoint=["/ats/ats-hook"], **kw)
    assert through.exit_code == 0, through.output
    assert "roots added: SSL_CERT_FILE" in through.output
    record_property("detail", "SSL_CERT_FILE, REQUESTS_CA_BUNDLE, AWS_CA_BUNDLE set to the "
                              "roots-removed system bundle: each names a copy with the roots")


@pytest.mark.cell("alpine signals", "6 hook")
def test_signals_and_exit_codes(docker_client, hook_volume, record_property):  # noqa: F811
    """CMD replaces the bundled hook (exec): PID 1, docker stop's SIGTERM reaches
    it, its exit code is the container's, as root and as user 1000 read-only."""
    have_image(docker_client, ALPINE_NOAMAZON)
    mounts = hookbundle.volume_mount(hook_volume)
    for label, kw in hookbundle.USERS[:2]:
        code = dockerrun.run(docker_client, ALPINE_NOAMAZON, ["--", "sh", "-c", "exit 7"],
                             entrypoint=["/ats/ats-hook"], mounts=mounts, **kw)
        assert code.exit_code == 7, f"{label}: {code.output}"
        missing = dockerrun.run(docker_client, ALPINE_NOAMAZON, ["--", "no-such-command"],
                                entrypoint=["/ats/ats-hook"], mounts=mounts, **kw)
        assert missing.exit_code == 127, f"{label}: {missing.output}"
        script = "trap 'echo got TERM; exit 0' TERM; echo pid $$; while :; do sleep 0.1; done"
        container = docker_client.containers.run(
            ALPINE_NOAMAZON, ["--", "sh", "-c", script], entrypoint=["/ats/ats-hook"],
            volumes=dict(dockerrun.STANDARD_MOUNTS, **mounts), detach=True,
            name=f"atshook-sig-{uuid.uuid4().hex[:8]}", **kw)
        try:
            deadline = time.monotonic() + 60
            while b"pid " not in container.logs() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert b"pid 1\n" in container.logs(), container.logs()
            started = time.monotonic()
            container.stop(timeout=20)  # SIGTERM, SIGKILL after 20 s
            stopped = time.monotonic() - started
            status = container.wait(timeout=30)["StatusCode"]
            logs = container.logs().decode()
        finally:
            container.remove(force=True)
        assert status == 0 and "got TERM" in logs, f"{label}: exit {status}: {logs}"
        assert stopped < 10, f"{label}: stop took {stopped:.1f} s (SIGKILL, not SIGTERM?)"
    record_property("detail", "CMD is PID 1, SIGTERM reaches it (exit 0), exit 7 and 127 pass")


# --- init: the compose examples, run as written, against the SES stand-in


def compose(project: str, files: list[str], *args, env=None, timeout=300):
    argv = ["docker-compose", "-p", project]
    for f in files:
        argv += ["-f", f]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                               "HOME": os.environ.get("HOME", "/root"), **(env or {})},
                          check=False)


APP_SCRIPT = ("sh /checks/chain-check.sh /fixtures && sh /checks/clients/curl-send.sh "
              "'ats init check'")


def override(example, ses_network, pki_dir, runtime_mounts, app_env=None) -> str:
    """What the matrix adds to an example, nothing the example itself does: the
    app image and command, the stand-in's network and test root, the check files."""
    mounts = [f"{src}:{m['bind']}:ro" for src, m in runtime_mounts.items()]
    mounts += [f"{src}:{m['bind']}:ro" for src, m in dockerrun.STANDARD_MOUNTS.items()]
    mounts.append(f"{pki_dir}:/pki:ro")
    lines = ["services:", "  app:", "    networks: [ses]", "    tmpfs: [/tmp]",
             f"    command: [\"sh\", \"-c\", \"{APP_SCRIPT}\"]", "    volumes:"]
    lines += [f"      - {m}" for m in mounts]
    if app_env:
        lines.append("    environment:")
        lines += [f"      {k}: {v}" for k, v in app_env.items()]
    if example == "export":  # the stand-in's test root, as a site CA would be
        lines += ["  ats-export:", "    environment:", "      ATS_HOOK_EXTRA_CA: /pki/root.pem",
                  "    volumes:", f"      - {pki_dir}:/pki:ro"]
    lines += ["networks:", "  ses:", "    external: true", f"    name: {ses_network}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("example", [
    pytest.param(e, id=e, marks=pytest.mark.cell(f"alpine compose {e}", "init"))
    for e in ("wrap", "export")
])
def test_init(example, docker_client, ses_network, ses_pki, runtimes, record_property):
    require("docker-compose", shutil.which("docker-compose"))
    have_image(docker_client, ALPINE_NOAMAZON)
    hookbundle.require_hook_image(docker_client)
    # alpine has curl and libcrypto but no openssl command: check 2 runs on its own
    # libcrypto through alpine-python's CPython, as checks 2, 4 and 6 do for this row
    runtime = runtimes(matrixlib_row("alpine-python").image)
    project = f"{hookbundle.PREFIX}init-{uuid.uuid4().hex[:8]}"
    env = {"APP_IMAGE": ALPINE_NOAMAZON, "ATS_HOOK_IMAGE": hookbundle.HOOK_IMAGE}
    with tempfile.TemporaryDirectory(prefix="atshook-init-") as tmp:
        extra = os.path.join(tmp, "matrix.yml")
        app_env = {"ATS_HOOK_EXTRA_CA": "/pki/root.pem"} if example == "wrap" else None
        with open(extra, "w") as f:
            f.write(override(example, ses_network, ses_pki.dir, runtime, app_env))
        files = [os.path.join(EXAMPLES, f"{example}.yml"), extra]
        # negative control: the app alone, as it is, fails (no hook, no exported bundle)
        alone = {"entrypoint": ["/bin/sh", "-c"], "mounts": runtime, "network": ses_network,
                 "user": "1000", "read_only": True, "tmpfs": {"/tmp": ""}}
        chains, ses = APP_SCRIPT.split(" && ")
        without = dockerrun.run(docker_client, ALPINE_NOAMAZON, [chains], **alone)
        assert without.exit_code == 1 and "FAIL r2m01" in without.output, without.output
        without = dockerrun.run(docker_client, ALPINE_NOAMAZON, [ses], **alone)
        assert without.exit_code == 60, without.output  # curl: the peer did not verify
        try:
            up = compose(project, files, "up", "--abort-on-container-exit",
                         "--exit-code-from", "app", env=env)
            logs = compose(project, files, "logs", "--no-color", env=env).stdout
        finally:
            compose(project, files, "down", "-v", "--remove-orphans", env=env)
    assert up.returncode == 0, f"{up.stderr[-3000:]}\n{logs[-3000:]}"
    assert "smtp 587: sent" in logs and "api 443: <MessageId>" in logs, logs[-3000:]
    assert "FAIL" not in logs
    record_property("detail", f"examples/compose/{example}.yml with docker-compose: alpine's "
                              "curl reaches the SES stand-in, the intermediates verify")


def matrixlib_row(name):
    return next(r for r in matrixlib.rows() if r.name == name)


# --- init: the Kubernetes examples, each container run with docker as the
# manifest says (command, args, user, read-only root, emptyDir volumes); only
# the placeholders change: your/app:1.2 is alpine without Python, your-app the check.

K8S = os.path.join(matrixlib.REPO, "examples", "k8s")


def pod_containers(path):
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f)
    spec = doc["spec"]["template"]["spec"]
    return spec, spec.get("initContainers", []), spec["containers"]


def run_k8s_container(client, c, volumes, extra, network=None):
    image = c["image"].replace("your/app:1.2", ALPINE_NOAMAZON)
    sc = c.get("securityContext", {})
    mounts = {volumes[m["name"]]: {"bind": m["mountPath"], "mode": "ro" if m.get("readOnly")
                                   else "rw"} for m in c.get("volumeMounts", [])}
    mounts.update(extra["mounts"])
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    env.update(extra.get("env", {}))
    user = str(sc["runAsUser"]) if "runAsUser" in sc else None
    return dockerrun.run(client, image, c.get("args") or extra.get("args"),
                         entrypoint=c.get("command"), mounts=mounts, network=network, user=user,
                         read_only=bool(sc.get("readOnlyRootFilesystem")),
                         tmpfs={"/tmp": ""} if extra.get("tmp") else None, environment=env)


@pytest.mark.parametrize("example", [
    pytest.param(e, id=e, marks=pytest.mark.cell(f"alpine k8s {e}", "init"))
    for e in ("wrap", "export")
])
def test_init_kubernetes(example, docker_client, ses_network, ses_pki, runtimes, record_property):
    have_image(docker_client, ALPINE_NOAMAZON)
    hookbundle.require_hook_image(docker_client)
    spec, inits, (app,) = pod_containers(os.path.join(K8S, f"{example}.yaml"))
    runtime = runtimes(matrixlib_row("alpine-python").image)
    pki = {str(ses_pki.dir): {"bind": "/pki", "mode": "ro"}}
    volumes = {}
    try:
        for v in spec["volumes"]:  # an emptyDir: empty, writable by every user of the pod
            volumes[v["name"]] = name = f"{hookbundle.PREFIX}k8s-{uuid.uuid4().hex[:8]}"
            docker_client.volumes.create(name)
            dockerrun.run(docker_client, ALPINE_NOAMAZON, ["chmod", "0777", "/v"], entrypoint=[],
                          mounts={name: {"bind": "/v", "mode": "rw"}})
        hook_env = {"ATS_HOOK_EXTRA_CA": "/pki/root.pem"}  # the stand-in's test root
        for c in inits:
            res = run_k8s_container(docker_client, c, volumes, {"mounts": pki, "env": hook_env})
            assert res.exit_code == 0, f"init container {c['name']}: {res.output}"
        if app.get("command"):  # wrap: the hook, then your-app: here the check
            app = dict(app, command=app["command"][:2] + ["/bin/sh", "-c", APP_SCRIPT], args=None)
            extra = {"mounts": {**runtime, **pki}, "env": hook_env, "tmp": True}
        else:  # export: the image's own command, here the check
            app = dict(app, command=["/bin/sh", "-c"])
            extra = {"mounts": {**runtime, **pki}, "args": [APP_SCRIPT], "tmp": True}
        res = run_k8s_container(docker_client, app, volumes, extra, network=ses_network)
    finally:
        for name in volumes.values():
            docker_client.volumes.get(name).remove(force=True)
    assert res.exit_code == 0, res.output
    assert "smtp 587: sent" in res.output and "api 443: <MessageId>" in res.output, res.output
    record_property("detail", f"examples/k8s/{example}.yaml, its containers run as written: "
                              "alpine's curl reaches the SES stand-in, the intermediates verify")
