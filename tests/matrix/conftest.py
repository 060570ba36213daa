"""The docker matrix: fixtures, and the tables it prints and writes (report.py).

Images are built beforehand by scripts/build-images (results/build.json says
what was built and what was skipped, and why). Each test is one cell; the
table, results/matrix.json and (with --junitxml) the JUnit file come from the
same outcomes.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time

import docker
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import matrixlib  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import report as matrix_report  # noqa: E402
import resultcache  # noqa: E402

REQUIRE_DOCKER = os.environ.get("ATS_REQUIRE_DOCKER") == "1"
RUNTIME_CACHE = os.path.join(matrixlib.REPO, ".cache", "runtime")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cell(row, check, table=None): one cell of a matrix table (report.py)"
    )
    directory = os.environ.get(resultcache.CACHE_ENV)
    if directory:
        config.pluginmanager.register(
            resultcache.ResultCache(directory, str(config.rootpath), _shared_inputs),
            "ats-resultcache")


# The images a check may use: everything the project builds but what the
# checks themselves make (ats-test/, removed after each run).
INPUT_REPOSITORIES = ("ats-local/", "ats-base:", "ats-tool:", "ats-hook:")


def _is_shared_input(path: str) -> bool:
    """Every file of the tree but prose, the unit tests, and the matrix's own
    modules (each module's key adds its own file)."""
    name = os.path.basename(path)
    top = os.path.dirname(path)
    return not (path.endswith(".md") or (top in ("tests", "tests/matrix")
                                         and name.startswith("test_") and name.endswith(".py")))


def _shared_inputs() -> dict | None:
    """What every matrix module depends on, input by input (resultcache): None
    where it cannot be known (no git, no engine), and then nothing is kept."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                                cwd=matrixlib.REPO, capture_output=True, check=True,
                                timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        client = docker.from_env(timeout=60)
        images = sorted(f"{tag} {image.id}" for image in client.images.list()
                        for tag in image.tags if tag.startswith(INPUT_REPOSITORIES))
        engine = client.version().get("Version")
    except (OSError, subprocess.SubprocessError, docker.errors.DockerException):
        return None
    files = [p for p in listed.stdout.decode().split("\0") if p and _is_shared_input(p)]
    variables = {k: v for k, v in os.environ.items() if k == "LIVE" or k.startswith("ATS_REQUIRE_")}
    def digest(value) -> str:
        return hashlib.sha256(json.dumps(value).encode()).hexdigest()

    return {"the tree's files": resultcache.digest_files(matrixlib.REPO, files),
            "the project's images": digest(images), "the Docker Engine": engine,
            "LIVE and ATS_REQUIRE_*": digest(sorted(variables.items())),
            "arm64 emulation": str(os.path.exists("/proc/sys/fs/binfmt_misc/qemu-aarch64")),
            "the UTC day": time.strftime("%Y-%m-%d", time.gmtime())}  # certificates expire


# Modules whose fixtures build once for all their tests (module-scoped images,
# a pip install into .cache): under xdist (--dist loadgroup) each runs on one
# worker, so nothing is built twice or by two workers at once.
# Longest first (longest_first deals them out in this order).
ONE_WORKER_MODULES = ("test_ses_clients", "test_patch_matrix", "test_arm64")


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups
def pytest_collection_modifyitems(config, items):
    # the tables' order, the same whatever is kept or dealt out: the image
    # matrix's own checks first (its rows and columns as images/matrix.toml and
    # the checks' numbers list them), then the other modules' cells
    first = sorted(range(len(items)), key=lambda i: (items[i].module.__name__.rpartition(".")[2]
                                                      != "test_matrix", i))
    for order, i in enumerate(first):
        items[i].ats_order = order
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        if module in ONE_WORKER_MODULES:
            item.add_marker(pytest.mark.xdist_group(module))
    items[:] = longest_first(items)


def longest_first(items: list) -> list:
    """The long work first, so that the two workers end together: xdist deals
    the work out in collection order, and the emulated (arm64) cells, a minute
    and more each, and the one-worker modules, collected last, were the
    matrix's tail. Each module's items stay together (module-scoped fixtures
    are set up once): the one-worker modules first, then the other modules
    with their arm64 cells ahead of their amd64 ones."""
    modules: dict = {}
    for item in items:
        modules.setdefault(item.module.__name__.rpartition(".")[2], []).append(item)

    def rank(module: str) -> int:
        return ONE_WORKER_MODULES.index(module) if module in ONE_WORKER_MODULES else len(
            ONE_WORKER_MODULES)

    ordered = []
    for module in sorted(modules, key=rank):  # stable: collection order otherwise
        if module in ONE_WORKER_MODULES:  # one worker runs it all: its order is moot
            ordered += modules[module]
        else:
            ordered += sorted(modules[module], key=lambda i: "arm64" not in i.nodeid)
    return ordered


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env(timeout=300)
        client.ping()
        _count_containers(client)
        return client
    except Exception as exc:  # noqa: BLE001 - any failure means no engine
        if REQUIRE_DOCKER:
            pytest.fail(f"Docker Engine required (ATS_REQUIRE_DOCKER=1) but unusable: {exc}")
        pytest.skip(f"no Docker Engine: {exc}")


@pytest.fixture(scope="session")
def build_report():
    return matrixlib.read_build_report().get("images", {})


@pytest.fixture(scope="session")
def runtimes(docker_client):
    """Borrowed Python runtimes for images that have none (see runtime_from in
    images/matrix.toml): the donor's /usr/local and /opt/ats-roots, unpacked once."""
    cache: dict[str, dict] = {}

    def mounts_for(image: str) -> dict:
        if image not in cache:
            # keyed by image ID: a rebuilt donor is unpacked again, an unchanged one never
            image_id = docker_client.images.get(image).id.split(":")[-1][:12]
            dest = os.path.join(RUNTIME_CACHE,
                                image.replace(":", "_").replace("/", "_") + "-" + image_id)
            os.makedirs(RUNTIME_CACHE, exist_ok=True)
            with open(dest + ".lock", "w") as lock:  # xdist workers: one unpacks, the other waits
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not os.path.isdir(dest):
                    _unpack_paths(docker_client, image, ("/usr/local", "/opt/ats-roots"), dest)
            # bin and lib only: the image's own /usr/local/share keeps its anchors.
            cache[image] = {
                os.path.join(dest, inner.lstrip("/")): {"bind": inner, "mode": "ro"}
                for inner in ("/usr/local/bin", "/usr/local/lib", "/opt/ats-roots")
                if os.path.isdir(os.path.join(dest, inner.lstrip("/")))
            }
        return cache[image]

    return mounts_for


# --- The SES stand-in, as a pytest-docker service on an internal network.

@pytest.fixture(scope="session")
def ses_pki():
    """A test PKI shaped like Amazon's; world-readable, since the stand-in
    runs as nobody and reads it through a bind mount."""
    from pki import make_ses_pki

    base = tempfile.mkdtemp(prefix="ats-matrix-ses-")
    os.chmod(base, 0o755)
    pki = make_ses_pki(os.path.join(base, "pki"))
    spool = os.path.join(base, "spool")
    os.makedirs(spool)
    os.chmod(spool, 0o777)
    for name in os.listdir(pki.dir):
        os.chmod(os.path.join(pki.dir, name), 0o644)
    os.chmod(pki.dir, 0o755)
    os.environ["ATS_MATRIX_PKI"] = str(pki.dir)
    os.environ["ATS_MATRIX_SPOOL"] = spool
    return pki


@pytest.fixture(scope="session")
def docker_compose_command():
    return "docker-compose"


@pytest.fixture(scope="session")
def docker_compose_file():
    return os.path.join(os.path.dirname(__file__), "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup(ses_pki, docker_client):
    # The stand-in image is built by scripts/build-images: never build or pull here.
    return ["up -d"]


@pytest.fixture(scope="session")
def ses_network(docker_services, docker_compose_project_name, docker_client):
    """The internal network on which the stand-in answers as SES."""
    project = docker_compose_project_name

    def healthy():
        found = docker_client.containers.list(
            filters={"label": [f"com.docker.compose.project={project}",
                               "com.docker.compose.service=ses"]})
        return bool(found) and found[0].attrs["State"].get("Health", {}).get(
            "Status") == "healthy"

    # generous: two workers start their stand-ins at once on a busy 2-core machine
    docker_services.wait_until_responsive(check=healthy, timeout=240.0, pause=0.5)
    return f"{project}_ses"


def _unpack_paths(client, image: str, paths, dest: str) -> None:
    """Copy paths out of an image into dest, atomically (rename at the end)."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".runtime-", dir=os.path.dirname(dest))
    container = client.containers.create(image, entrypoint=["/nonexistent"])
    try:
        for path in paths:
            try:
                stream, _ = container.get_archive(path)
            except docker.errors.NotFound:
                continue
            with tempfile.TemporaryFile() as tmp:
                for chunk in stream:
                    tmp.write(chunk)
                tmp.seek(0)
                target = os.path.join(staging, os.path.dirname(path).lstrip("/"))
                os.makedirs(target, exist_ok=True)
                with tarfile.open(fileobj=tmp) as tar:
                    tar.extractall(target)  # noqa: S202 - an image we built
        os.rename(staging, dest)
    finally:
        container.remove(force=True)


# --- What each test costs: its seconds and the containers it starts (the
# floor `make bench` sets against it). Counted at the Engine API the docker
# SDK calls; docker-compose's containers from the Engine's events.

_api_calls = {"create_container": 0, "start": 0, "exec_start": 0}


def _count_containers(client) -> None:
    api = client.api
    for name in _api_calls:
        real = getattr(api, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            _api_calls[_name] += 1
            return _real(*args, **kwargs)

        setattr(api, name, counted)


@functools.lru_cache(maxsize=1)
def _events_client():
    return docker.from_env(timeout=30)


def _compose_starts(since: float, until: float) -> int:
    """Containers docker-compose started for the matrix (projects atshook-* and
    pytest-docker's pytest<pid>) between since and until."""
    try:
        events = _events_client().events(since=int(since), until=int(until) + 1, decode=True,
                               filters={"type": "container", "event": "start"})
        projects = [e.get("Actor", {}).get("Attributes", {}).get("com.docker.compose.project", "")
                    for e in events]
    except docker.errors.DockerException:
        return 0
    return sum(1 for p in projects if p.startswith(("atshook-", f"pytest{os.getpid()}")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item.ats_before = (dict(_api_calls), time.time())
    yield


def _cost(item) -> dict:
    before, started = item.ats_before
    cost = {k: _api_calls[k] - before[k] for k in _api_calls}
    cost["compose_start"] = _compose_starts(started, time.time())
    return cost


_cells: dict[tuple[str, str, str], dict] = {}
_costs: dict[str, dict] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("cell")
    if marker is not None and (
            report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        row, check = marker.args
        table = marker.kwargs.get("table") or matrix_report.table_of(item.module.__name__, row)
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            cell = ("skipped", reason.replace("Skipped: ", ""))
        elif report.failed:
            msg = getattr(report.longrepr, "reprcrash", None)
            cell = ("FAIL", msg.message.splitlines()[0] if msg else "failed")
        else:
            cell = ("pass", dict(item.user_properties).get("detail", ""))
        # the item's place in the collection: xdist's reports arrive in any order
        report.user_properties.append(
            (resultcache.CELL_PROPERTY, [item.ats_order, table, row, check, *cell]))
    if report.when == "teardown" and hasattr(item, "ats_before"):
        # cells and costs travel in the reports: xdist sends them to the controller
        report.user_properties.append(("ats_cost", _cost(item)))


def pytest_runtest_logreport(report):
    """Runs where the results are gathered: the controller under xdist, else
    the one process. The teardown report carries the test's cost (setup,
    call and teardown: a session fixture is paid by the test that first needs
    it, and torn down by the last)."""
    props = dict(report.user_properties)
    if resultcache.CELL_PROPERTY in props:
        _add_cell(props[resultcache.CELL_PROPERTY])
    entry = _costs.setdefault(report.nodeid, {"seconds": 0.0})
    entry["seconds"] = round(entry["seconds"] + report.duration, 3)
    if "ats_cost" in props:
        entry.update(props["ats_cost"])


def _add_cell(recorded: list) -> None:
    order, table, row, check, outcome, detail = recorded
    _cells[(table, row, check)] = {"outcome": outcome, "detail": detail, "order": order}


def pytest_terminal_summary(terminalreporter):
    config = terminalreporter.config
    if hasattr(config, "workerinput"):
        return
    # this run's costs only (an empty file where every module was kept)
    matrixlib.write_json(os.path.join(matrixlib.RESULTS, "matrix-costs.json"), _costs)
    kept = config.pluginmanager.get_plugin("ats-resultcache")
    note = kept.note(config) if kept else None
    for recorded in kept.reused_cells(config) if kept else ():
        _add_cell(recorded)
    matrixlib.write_json(os.path.join(matrixlib.RESULTS, "matrix-kept.json"),
                         {"modules": sorted(kept.reused) if kept else [], "note": note})
    if not _cells:
        if note:
            terminalreporter.write_line(note)
        return
    # in collection order: the tables' rows and columns as the matrix lists them
    cells = {k: {"outcome": c["outcome"], "detail": c["detail"]}
             for k, c in sorted(_cells.items(), key=lambda kc: kc[1]["order"])}
    tr = terminalreporter
    tr.section("ats-roots matrix")
    for line in matrix_report.text(cells):
        tr.write_line(line)
    if note:
        tr.write_line(note)
    matrixlib.write_json(
        os.path.join(matrixlib.RESULTS, "matrix.json"),
        {f"{t}/{r}/{c}": cell for (t, r, c), cell in cells.items()},
    )
    md = os.path.join(matrixlib.RESULTS, "matrix.md")
    with open(md + ".tmp", "w", encoding="utf-8") as f:
        f.write(matrix_report.markdown(cells) + (f"\n_{note}_\n" if note else ""))
    os.replace(md + ".tmp", md)
    where = os.path.relpath(matrixlib.RESULTS, os.getcwd())
    tr.write_line(f"results: {where}/matrix.json, {where}/matrix.md (and the JUnit file)")
