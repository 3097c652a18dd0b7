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
    SLEEPBENCH_CACHE=/cache \
    SLEEPBENCH_RESULTS=/results

WORKDIR /opt/sleepbench
# `wheel[s]` matches the optional wheels/ folder; requirements.lock always matches, so the COPY
# never fails when there are no wheels.
COPY requirements.lock wheel[s] /tmp/build/
# One layer: venv, torch (local wheel if given, else the variant's index), pinned dependencies,
# then the user, so nothing of the build stays in the image.
RUN set -eux; \
    python -m venv "$VIRTUAL_ENV"; \
    if ls /tmp/build/torch-*.whl >/dev/null 2>&1; then \
      pip install --find-links /tmp/build -c /tmp/build/requirements.lock "torch==${TORCH_VERSION}"; \
    else \
      pip install --index-url "$TORCH_INDEX" "torch==${TORCH_VERSION}"; \
    fi; \
    pip install --find-links /tmp/build -r /tmp/build/requirements.lock; \
    useradd --create-home --uid 1000 sleepbench; \
    mkdir -p /data /results /cache; \
    chown sleepbench:sleepbench /data /results /cache; \
    rm -rf /tmp/build

COPY pyproject.toml README.md ./
COPY benchmark ./benchmark
COPY datasets ./datasets
COPY models ./models
COPY baselines ./baselines
# --no-deps: every dependency is already pinned above; the package itself is a few hundred kB.
RUN pip install --no-deps . && python -c "import benchmark.cli, models.fin_vivit, baselines.yasa_staging"

# the commit the image is built from, written into every record (the image has no .git); declared
# last so that a new commit rebuilds only this layer
ARG SLEEPBENCH_COMMIT=
ENV SLEEPBENCH_COMMIT=${SLEEPBENCH_COMMIT} \
    MPLCONFIGDIR=/tmp/matplotlib
USER sleepbench
WORKDIR /results
VOLUME ["/data", "/results", "/cache"]
ENTRYPOINT ["sleepbench"]
CMD ["--help"]
