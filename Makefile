# ats-roots: two commands do all set-up on a fresh machine (see README.md):
#   make demo   bases, images and the docker matrix (the main job)
#   make test   linters, unit and integration tests, the hook and the matrix
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RESULTS ?= results
export ATS_RESULTS_DIR := $(abspath $(RESULTS))
export LIVE

.PHONY: setup emulation bases wheels images test-matrix demo test lint unit bench clean

# Host tools from Debian's packages, and the pinned Python tools in .venv.
$(VENV)/.stamp: pyproject.toml requirements-dev.lock
	@command -v mmdebstrap >/dev/null && command -v qemu-img >/dev/null \
	  && command -v debugfs >/dev/null && command -v trust >/dev/null \
	  && command -v docker-compose >/dev/null && command -v musl-gcc >/dev/null && command -v go >/dev/null \
	  && command -v aarch64-linux-gnu-gcc >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       mmdebstrap qemu-utils e2fsprogs p11-kit docker-compose musl-tools golang-go \
	       gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.stamp emulation

# arm64 under qemu-user (qemu-user-static, binfmt_misc, qemu-aarch64 with the F
# flag): idempotent, undone by `make clean`; where it cannot be had the arm64
# rows say why, and with ATS_REQUIRE_ARM64=1 (CI) this fails instead.
emulation:
	$(PYTHON) scripts/emulation setup

bases: setup
	$(PY) scripts/build-bases

wheels: setup
	$(PY) scripts/wheelhouse

images: bases
	$(PY) scripts/build-images
	$(PY) scripts/build-hook-image
	if $(PY) scripts/emulation status >/dev/null; then $(PY) scripts/build-hook-image --arch aarch64; fi

# The matrix on two workers (pytest-xdist): its checks mostly wait on containers.
# A module whose last run passed with the same inputs is not run again, and
# its cells are reported from that run (tests/matrix/resultcache.py);
# ATS_MATRIX_FRESH=1 runs everything.
MATRIX_WORKERS ?= 2
MATRIX := ATS_MATRIX_CACHE=$(abspath .cache/matrix-results) $(PY) -m pytest tests/matrix -p no:cacheprovider -rs -n $(MATRIX_WORKERS) --dist loadgroup \
	  --junitxml=$(RESULTS)/matrix.xml

test-matrix: images
	$(MATRIX)

demo: test-matrix

lint: setup
	$(VENV)/bin/ruff check src tests scripts hooks
	$(VENV)/bin/hadolint images/*/Dockerfile
	$(VENV)/bin/vermin --no-tips --violations -t=3.6- src/ats_roots/hook/ats-hook \
	  src/ats_roots/_portable.py src/ats_roots/_smtp.py src/ats_roots/system/safepath.py \
	  src/ats_roots/system/_core.py
	$(PY) scripts/gen-hook --check

# The unit and integration tests on two workers as well: 12 min on one, 6 on
# two here (chroots, tool runs and containers, not one process's CPU).
UNIT_WORKERS ?= 2
UNIT := $(PY) -m pytest tests --ignore=tests/matrix -p no:cacheprovider -rs -n $(UNIT_WORKERS) \
	  --dist loadgroup --junitxml=$(RESULTS)/tests.xml

unit: setup
	$(UNIT)

test: lint images
	$(UNIT)
	$(MATRIX)

# Times the cold (on a clean clone; BENCH=--cold makes it so) and warm make
# demo itself, so it needs only the venv. BENCH="--skip-make" for the peers alone.
bench: setup
	$(PY) scripts/bench $(BENCH)

# Every image, container, network and volume the project made (each named as it
# goes), the emulation set-up, and the build outputs; .cache (bases, downloads,
# apt archives) stays, so the next `make bases` only re-imports.
clean:
	$(PYTHON) scripts/clean-docker
	$(PYTHON) scripts/emulation teardown
	rm -rf $(RESULTS) build .cache/runtime .cache/exports .cache/matrix-results
