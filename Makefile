# sleepbench — `make help` lists the targets and the variables they read.
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
# Torch is installed first and pinned, so nothing later pulls a multi-GB CUDA build. On machines
# without the local CPU wheel add a CPU index, e.g. TORCH_PIP_ARGS="--index-url <pytorch cpu index>".
TORCH_SPEC  ?= torch==2.13.0
TORCH_PIP_ARGS ?=
SURROGATE_DIR ?= data/surrogate
SUBJECTS    ?= 20
HOURS       ?= 10
JOBS        ?= 2
RESULTS     ?= results
DATA_DIR    ?= data/sleep-edf
REAL_DIR    ?= ../shared/data/sleep-edf
SUITE       ?= full
# MODELS=a,b runs only these entries of SUITE, at the suite's budget (default: all of them)
MODELS      ?=
# extra pytest arguments for `make test`, e.g. PYTEST_ARGS="tests/test_cli.py -x"
PYTEST_ARGS ?=
# `make bench`: which benchmarks (pytest paths / node ids), and a bench.json of an earlier commit
# on this machine for the speed-up ratios
BENCH_TESTS ?= tests/perf
BENCH_BASELINE ?=
# Docker (make image / make benchmark)
DOCKER      ?= docker
IMAGE       ?= sleepbench:$(TORCH_VARIANT)
TORCH_VARIANT ?= cpu
TORCH_VERSION ?= 2.13.0
# the index torch comes from (default: the PyTorch index of TORCH_VARIANT); e.g. TORCH_VARIANT=cu130
# TORCH_INDEX=https://pypi.org/simple takes PyPI's torch, a CUDA 13.0 build
TORCH_INDEX ?=
DOCKER_NET  ?= --network=host
GPUS        ?=
# --device of every run: auto (a GPU when torch sees one, else the CPU); with GPUS set, cuda, so an
# image or venv whose torch cannot see the GPU stops with an error instead of training on the CPU
DEVICE      ?= $(if $(GPUS),cuda,auto)
CACHE_DIR   ?= $(HOME)/.cache/sleepbench
LOCAL_WHEELS ?= /opt/wheels

.PHONY: help install lock quick image benchmark benchmark-local real-night surrogate tables test test-fast lint bench gpu-check clean

help:  ## this list
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "variables: PYTHON=$(PYTHON) VENV=$(VENV) TORCH_SPEC=$(TORCH_SPEC) TORCH_PIP_ARGS=$(TORCH_PIP_ARGS)"
	@echo "           SURROGATE_DIR=$(SURROGATE_DIR) SUBJECTS=$(SUBJECTS) HOURS=$(HOURS) JOBS=$(JOBS)"
	@echo "           RESULTS=$(RESULTS) DATA_DIR=$(DATA_DIR) REAL_DIR=$(REAL_DIR) SUITE=$(SUITE) MODELS=$(MODELS)"
	@echo "           PYTEST_ARGS=$(PYTEST_ARGS) BENCH_TESTS=$(BENCH_TESTS) BENCH_BASELINE=$(BENCH_BASELINE)"
	@echo "   docker: IMAGE=$(IMAGE) TORCH_VARIANT=$(TORCH_VARIANT) (cpu, or cu128 ... with GPUS=all) TORCH_INDEX=$(TORCH_INDEX)"
	@echo "           DOCKER_NET=$(DOCKER_NET) CACHE_DIR=$(CACHE_DIR) LOCAL_WHEELS=$(LOCAL_WHEELS)"
	@echo "   device: DEVICE=$(DEVICE) (auto, cpu, cuda, cuda:N; cuda when GPUS is set)"

install: $(VENV)/.installed  ## create .venv and install sleepbench with its test extras

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test,cluster]"
	touch $@

quick: install  ## quick suite on surrogate data (generated when absent), then its tables, figures, paper LaTeX + .bib and HTML page
	$(BIN)/sleepbench run --suite quick $(RUN_MODELS) --results $(RESULTS) --workers $(JOBS) --device $(DEVICE)
	$(BIN)/sleepbench report --results $(RESULTS) --suite quick $(RUN_MODELS)

image:  ## build the Docker image IMAGE (torch TORCH_VARIANT; a torch wheel in LOCAL_WHEELS is used offline)
	@if ls $(LOCAL_WHEELS)/torch-$(TORCH_VERSION)+$(TORCH_VARIANT)-*.whl >/dev/null 2>&1; then \
	  mkdir -p wheels && cp -u $(LOCAL_WHEELS)/torch-$(TORCH_VERSION)+$(TORCH_VARIANT)-*.whl wheels/; fi
	$(DOCKER) build $(DOCKER_NET) -t $(IMAGE) --build-arg TORCH_VERSION=$(TORCH_VERSION) \
	  --build-arg TORCH_VARIANT=$(TORCH_VARIANT) $(if $(TORCH_INDEX),--build-arg TORCH_INDEX=$(TORCH_INDEX)) \
	  --build-arg SLEEPBENCH_COMMIT=$$(git rev-parse HEAD 2>/dev/null) .

RUN_MODELS = $(if $(MODELS),--models $(MODELS))
DOCKER_RUN = $(DOCKER) run --rm $(DOCKER_NET) $(if $(GPUS),--gpus $(GPUS)) -u $$(id -u):$$(id -g) \
	-v $(abspath $(RESULTS)):/results -v $(abspath $(CACHE_DIR)):/cache -v $(abspath $(DATA_DIR)):/data $(IMAGE)

benchmark: image  ## SUITE (default full: Sleep-EDF-20 in DATA_DIR, fetched when empty; published: the published entries at their authors' budgets, same data; quick: surrogate) in Docker
	mkdir -p $(RESULTS) $(CACHE_DIR) $(DATA_DIR)
	@if [ "$(SUITE)" != "quick" ] && [ "$$(find $(DATA_DIR) -name '*-PSG.edf' 2>/dev/null | head -1)" = "" ]; then \
	  echo "$(DATA_DIR) holds no PSG: fetching Sleep-EDF-20 through MNE"; \
	  $(DOCKER_RUN) data fetch --data-dir /data --subjects 0-19; fi
	$(DOCKER_RUN) run --suite $(SUITE) $(RUN_MODELS) --data-dir /data --results /results --workers $(JOBS) --device $(DEVICE)
	$(DOCKER_RUN) report --results /results --suite $(SUITE) $(RUN_MODELS)

benchmark-local: install  ## the same as benchmark, in the local venv instead of Docker
	@if [ "$(SUITE)" != "quick" ] && [ "$$(find $(DATA_DIR) -name '*-PSG.edf' 2>/dev/null | head -1)" = "" ]; then \
	  $(BIN)/sleepbench data fetch --data-dir $(DATA_DIR) --subjects 0-19; fi
	$(BIN)/sleepbench run --suite $(SUITE) $(RUN_MODELS) --data-dir $(DATA_DIR) --results $(RESULTS) --workers $(JOBS) --device $(DEVICE)
	$(BIN)/sleepbench report --results $(RESULTS) --suite $(SUITE) $(RUN_MODELS)

lock: install  ## rewrite requirements.lock (the image's pinned dependencies) from the venv
	{ sed -n '1,2p' requirements.lock; $(BIN)/pip freeze --exclude-editable | \
	  grep -v -i -E '^(torch|pytest|pytest-benchmark|iniconfig|pluggy|py-cpuinfo2?|pygments|dask|distributed|.*tblib.*|msgpack|sortedcontainers|zict|locket|partd|toolz|tornado|psutil|click|pyarrow|importlib.metadata|zipp)=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

real-night: install  ## within-night sanity check on the real night SC4001E0 (REAL_DIR)
	$(BIN)/sleepbench run --suite real-night $(RUN_MODELS) --data-dir $(REAL_DIR) --results $(RESULTS) --workers $(JOBS) --device $(DEVICE)
	$(BIN)/sleepbench report --results $(RESULTS) --suite real-night $(RUN_MODELS)

surrogate: install  ## write the 20-subject surrogate dataset to SURROGATE_DIR and print its summary
	$(BIN)/sleepbench data surrogate --subjects $(SUBJECTS) --nights 2 --hours $(HOURS) --jobs $(JOBS) --out $(SURROGATE_DIR)
	$(BIN)/sleepbench data info --data-dir $(SURROGATE_DIR) --jobs $(JOBS)

tables: install  ## tables and figures from the records in RESULTS
	$(BIN)/sleepbench tables --results $(RESULTS)

test: install  ## run the whole test suite, lint included (real-night tests need ../shared/data/sleep-edf)
	$(BIN)/python -m pytest -q --benchmark-skip --durations=20 $(PYTEST_ARGS)

test-fast: install  ## the tests not marked slow, subprocess or docker (under 2 minutes)
	$(BIN)/python -m pytest -q --benchmark-skip -m "not slow and not subprocess and not docker" $(PYTEST_ARGS)

lint: install  ## ruff (the rules in pyproject.toml); make test runs it too
	$(BIN)/ruff check .

bench: install  ## performance benchmarks (pytest-benchmark) -> RESULTS/bench.json and a summary
	mkdir -p $(RESULTS)
	$(BIN)/python -m pytest -q $(BENCH_TESTS) --benchmark-only --benchmark-json $(RESULTS)/bench.json
	$(BIN)/python -m tests.perf.summary $(RESULTS)/bench.json $(if $(BENCH_BASELINE),--baseline $(BENCH_BASELINE))

gpu-check: install  ## on a GPU machine: CUDA tests, full suite calibrated on the GPU (fp32, bf16), one fold, the --workers that saturate it, projected wall time of full and published -> RESULTS/gpu-check (tiny sizes without a GPU)
	$(BIN)/python -m tests.perf.gpu_check --device $(DEVICE) --out $(RESULTS)/gpu-check

clean:  ## remove the venv and generated data (not results/)
	rm -rf $(VENV) $(SURROGATE_DIR) .pytest_cache
