# sleepbench image: `docker run IMAGE run --suite quick` (ENTRYPOINT is the sleepbench CLI).
#
# Build args (all optional; with none it builds on any machine with internet, CPU torch):
#   TORCH_VERSION  torch release (default 2.13.0)
#   TORCH_VARIANT  cpu (default) or a CUDA tag of the PyTorch index, e.g. cu128, for `--gpus all`
#   TORCH_INDEX    the index torch comes from (default https://download.pytorch.org/whl/$TORCH_VARIANT)
#   SLEEPBENCH_COMMIT  git commit recorded in every result (the Makefile passes it)
# Air-gapped sites: put wheels (e.g. torch-*.whl) in ./wheels before building; a torch wheel there
# is used instead of the PyTorch index (its own dependencies still come from the package index or
# from ./wheels).
#
# Layout of the steps: on copy-based storage drivers (vfs, as on CI's stand-in engine) every step
# copies the whole image so far, and after the dependency layer that is ~2 GB. So all metadata is
# declared before that layer, the sources are gathered in a small first stage, and only five steps
# follow it (sources, their install, the commit, the user).

# --- the package's sources, gathered on the small base image ---------------------------------
FROM python:3.11-slim AS sources
COPY pyproject.toml README.md /src/
COPY sleepbench /src/sleepbench
COPY benchmark /src/benchmark
COPY datasets /src/datasets
COPY models /src/models
COPY baselines /src/baselines

# --- the image ----------------------------------------------------------------------------------
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    SLEEPBENCH_CACHE=/cache \
    SLEEPBENCH_RESULTS=/results
# the user and the volume folders first: a VOLUME discards later changes to its folder
RUN useradd --create-home --uid 1000 sleepbench \
 && mkdir -p /data /results /cache \
 && chown sleepbench:sleepbench /data /results /cache
VOLUME ["/data", "/results", "/cache"]
WORKDIR /results
ENTRYPOINT ["sleepbench"]
CMD ["--help"]

# `wheel[s]` matches the optional wheels/ folder; requirements.lock always matches, so the COPY
# never fails when there are no wheels.
COPY requirements.lock wheel[s] /tmp/build/
# One layer: venv, torch (local wheel if given, else the variant's index), pinned dependencies,
# so nothing of the build stays in the image.
RUN set -eux; \
    python -m venv "$VIRTUAL_ENV"; \
    if ls /tmp/build/torch-*.whl >/dev/null 2>&1; then \
      pip install --find-links /tmp/build -c /tmp/build/requirements.lock "torch==${TORCH_VERSION}"; \
    else \
      pip install --index-url "$TORCH_INDEX" "torch==${TORCH_VERSION}"; \
    fi; \
    pip install --find-links /tmp/build -r /tmp/build/requirements.lock; \
    rm -rf /tmp/build

COPY --from=sources /src /opt/sleepbench
# --no-deps: every dependency is already pinned above; the package itself is a few hundred kB.
RUN pip install --no-deps /opt/sleepbench \
 && python -c "import sleepbench.benchmark.cli, sleepbench.models.fin_vivit, sleepbench.baselines.yasa_staging"

# the commit the image is built from, written into every record (the image has no .git); declared
# last so that a new commit rebuilds only this layer
ARG SLEEPBENCH_COMMIT=
ENV SLEEPBENCH_COMMIT=${SLEEPBENCH_COMMIT}
USER sleepbench
