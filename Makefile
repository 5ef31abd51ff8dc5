# sipsans developer entry points. Everything runs inside .venv, which `make venv` creates from
# nothing but a Python >= 3.11 with venv support and GNU make (a fresh Debian 12 is enough).
#
#   make demo    run the `sipsans demo` command
#   make test    the whole gate, what CI runs (.ci/run): test-pure, then test-mypyc
#   make test-pure  lint (ruff), format check, type check (mypy --strict), a fuzzing smoke
#                run, then the pytest suite on the pure-Python tree
#   make test-mypyc  the suite again against the opt-in mypyc build (SIPSANS_MYPYC=1) of a
#                copy of the tree in build/mypyc (about 80 s to build, then the suite)
#   make mypyc-build  only that build (then run a bench from build/mypyc to measure it)
#   make lint    ruff check + ruff format --check + mypy
#   make fmt     apply ruff's formatter and autofixes
#   make bench   run bench/parse.py (installs the `bench` dependency group first)
#   make bench-uas  sipp -sn uac at rising rates against sipsans/sipp/aiosipua UASes (needs sipp)
#   make fuzz    run each atheris harness of fuzz/ for FUZZ_SECONDS (60) seconds
#   make fuzz-smoke  the same for FUZZ_SMOKE_SECONDS (10) seconds each (part of make test)
#   make peers   CI only: install the interop peers from Debian (see below)
#   make clean   remove the venv, caches and build artefacts

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Records that the venv holds an editable sipsans plus the dev group for this pyproject.toml.
STAMP       := $(VENV)/.sipsans-dev.stamp
BENCH_STAMP := $(VENV)/.sipsans-bench.stamp

# Interop peers (DESIGN.md §7) come from Debian's packages. They are installed only when
# CI=true and tests/interop/ exists, so that local runs never touch the system: locally the
# interop tests skip with a reason when a peer is missing; under CI=true a missing peer fails.
# Add packages here as tests/interop/ grows (sipsak, sipvicious, tshark, ...).
INTEROP_APT_PACKAGES ?= sip-tester kamailio baresip dnsmasq-base redis-server

.DEFAULT_GOAL := help
.PHONY: help venv demo test test-pure test-mypyc mypyc-build lint fmt bench bench-uas peers clean

help:
	@awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' Makefile

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: '$(PYTHON)' was not found. sipsans needs Python >= 3.11" \
	       "(on Debian 12: apt-get install python3 python3-venv)." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: sipsans needs Python >= 3.11, '$(PYTHON)' is" \
	       "$$($(PYTHON) -c 'import platform; print(platform.python_version())')." \
	       "Pass another interpreter: make venv PYTHON=python3.11" >&2; exit 1; }
	@# A venv whose interpreter is gone or that has no pip (a half-made venv left by a failed
	@# run) is rebuilt from scratch.
	@if [ -d $(VENV) ] && ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  echo "removing the unusable $(VENV)"; rm -rf $(VENV); fi
	@if [ ! -d $(VENV) ]; then \
	  echo "creating $(VENV) with $$(command -v $(PYTHON))"; \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "error: '$(PYTHON) -m venv' failed. On Debian/Ubuntu the venv module and ensurepip" \
	         "come in a separate package: apt-get install python3-venv" >&2; exit 1; }; fi
	@# pip >= 25.1 understands --group (PEP 735 [dependency-groups] in pyproject.toml).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --group dev
	@touch $@

demo: venv
	$(BIN)/sipsans demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Both builds, the pure one first (make runs prerequisites in order without -j).
test: test-pure test-mypyc

test-pure: venv peers lint fuzz-smoke
	$(BIN)/pytest -q

# The compiled build is made in a copy of the tracked files, build/mypyc (build/ is ignored
# by git, ruff and pytest's testpaths), so the working tree stays pure Python; build/shared
# links to ../shared, so that the copy finds the shared corpus where the tree does. The
# suite then runs in the copy, and tests/project/test_compiled.py checks that every module
# of setup.py's COMPILED list was imported from its extension. To bench the compiled build,
# run a bench from the copy: cd build/mypyc && ../../.venv/bin/python bench/calls.py (the
# benches put their own tree first on sys.path).
MYPYC_TREE  := build/mypyc
MYPYC_STAMP := $(VENV)/.sipsans-mypyc.stamp

$(MYPYC_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --group mypyc
	@touch $@

mypyc-build: venv $(MYPYC_STAMP)
	rm -rf $(MYPYC_TREE) && mkdir -p $(MYPYC_TREE)
	git ls-files -z | xargs -0 cp --parents -t $(MYPYC_TREE)
	ln -sfn $(abspath ..)/shared build/shared
	cd $(MYPYC_TREE) && SIPSANS_MYPYC=1 $(CURDIR)/$(BIN)/python setup.py -q build_ext --inplace

# PYTHONPATH puts the copy's packages ahead of the editable install of the working tree.
MYPYC_ROOT := $(CURDIR)/$(MYPYC_TREE)
MYPYC_PATH := $(MYPYC_ROOT):$(MYPYC_ROOT)/adapters/session:$(MYPYC_ROOT)/adapters/asyncio:$(MYPYC_ROOT)/adapters/anyio

test-mypyc: venv peers mypyc-build
	cd $(MYPYC_TREE) && PYTHONPATH=$(MYPYC_PATH) SIPSANS_EXPECT_COMPILED=1 \
	  $(CURDIR)/$(BIN)/pytest -q -p no:cacheprovider

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --group bench
	@touch $@

bench: venv $(BENCH_STAMP)
	$(BIN)/python bench/parse.py

bench-uas: venv $(BENCH_STAMP)
	$(BIN)/python bench/uas_cps.py

# Does nothing unless CI=true and tests/interop/ exists. Kamailio's package would start a
# daemon on port 5060 that our tests then collide with: a temporary policy-rc.d (the usual
# Debian container trick) stops maintainer scripts from starting any service.
peers:
	@if [ "$${CI:-}" = "true" ] && [ -d tests/interop ]; then \
	  set -e; \
	  echo "CI: installing interop peers: $(INTEROP_APT_PACKAGES)"; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq; \
	  apt-get install -y -qq --no-install-recommends $(INTEROP_APT_PACKAGES) </dev/null; \
	fi

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# make fuzz: run each atheris harness of fuzz/ for FUZZ_SECONDS seconds (default 60), starting
# from its seed corpus fuzz/corpus/<name>/ (installs the `fuzz` dependency group first). New
# inputs libFuzzer finds go to fuzz/.work/<name>/ (scratch, untracked); a crash stops the run
# with its input in fuzz/artifacts/<name>/crash-*. Copy a crash into fuzz/corpus/<name>/ to
# keep it as a regression test (tests/project/test_fuzz_corpus.py replays every corpus file).
# Extra libFuzzer flags go in FUZZ_FLAGS, e.g. make fuzz FUZZ_SECONDS=600 FUZZ_FLAGS=-jobs=2
#
# make fuzz-smoke (a prerequisite of `make test`, so CI runs it): each harness fuzzes for
# FUZZ_SMOKE_SECONDS (default 10) from its corpus, into a fresh scratch directory; any crash
# fails the target, with the input in fuzz/artifacts/<name>/ and its base64 in the log.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_FLAGS         ?=
FUZZ_STAMP         := $(VENV)/.sipsans-fuzz.stamp
FUZZ_RUN            = -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_FLAGS)
# harness:max_len (the cost of the framer and the program harnesses grows with input size)
FUZZ_HARNESSES     := parser:1024 framer:1024 endpoint:2048 ua:2048 sdp:4096

.PHONY: fuzz fuzz-smoke

$(FUZZ_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --group fuzz
	@touch $@

fuzz: venv $(FUZZ_STAMP)
	@set -e; for spec in $(FUZZ_HARNESSES); do \
	  name=$${spec%%:*}; mkdir -p fuzz/.work/$$name fuzz/artifacts/$$name; \
	  echo "== fuzz_$$name.py for $(FUZZ_SECONDS) s"; \
	  $(BIN)/python fuzz/fuzz_$$name.py $(FUZZ_RUN) -max_len=$${spec##*:} \
	    -artifact_prefix=fuzz/artifacts/$$name/ fuzz/.work/$$name fuzz/corpus/$$name; \
	done

fuzz-smoke: venv $(FUZZ_STAMP)
	@set -e; rm -rf fuzz/.work/smoke; for spec in $(FUZZ_HARNESSES); do \
	  name=$${spec%%:*}; mkdir -p fuzz/.work/smoke/$$name fuzz/artifacts/$$name; \
	  echo "fuzz-smoke: fuzz_$$name.py for $(FUZZ_SMOKE_SECONDS) s"; \
	  $(BIN)/python fuzz/fuzz_$$name.py -max_total_time=$(FUZZ_SMOKE_SECONDS) \
	    -max_len=$${spec##*:} -print_final_stats=1 -artifact_prefix=fuzz/artifacts/$$name/ \
	    fuzz/.work/smoke/$$name fuzz/corpus/$$name 2>fuzz/.work/smoke/$$name.log \
	  || { tail -n 40 fuzz/.work/smoke/$$name.log; echo "fuzz-smoke: fuzz_$$name.py failed" \
	       "(full log: fuzz/.work/smoke/$$name.log)" >&2; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' fuzz/.work/smoke/$$name.log; \
	done
