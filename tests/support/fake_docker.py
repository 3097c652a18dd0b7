#!/usr/bin/env python3
"""A stand-in for the ``docker`` client that runs the image's command on the local install.

The Makefile's Docker targets take ``DOCKER=<this script>``, so a test exercises their recipes in
seconds without an engine: ``build`` checks what a real build would need from the context (the
Dockerfile, every ``COPY`` source, the build args it is given) and ``run`` maps the container's
volumes (``-v host:container``) back onto host paths and runs the image's entrypoint (``sleepbench``)
with the image's environment (``SLEEPBENCH_CACHE=/cache``, ``SLEEPBENCH_RESULTS=/results``, working
directory ``/results``), all read from the Dockerfile. What it cannot catch is what only the real
image shows (a missing dependency in the lock, the base image): CI builds and runs that image too.

Every invocation is appended as one JSON line to ``$FAKE_DOCKER_LOG`` when that is set.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: options of ``docker run`` / ``docker build`` that take a value (the rest are flags)
RUN_VALUE_OPTS = {"-v", "--volume", "-u", "--user", "-e", "--env", "--gpus", "-w", "--workdir",
                  "--network", "--name", "--entrypoint"}
BUILD_VALUE_OPTS = {"-t", "--tag", "--build-arg", "-f", "--file", "--network", "--target"}


def fail(msg: str) -> None:
    print(f"fake docker: {msg}", file=sys.stderr)
    sys.exit(125)  # docker's own exit status for errors of the daemon / client


def split_options(argv: list[str], value_opts: set[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Leading options as (name, value) pairs, and the positional rest."""
    opts, i = [], 0
    while i < len(argv) and argv[i].startswith("-"):
        name, _, value = argv[i].partition("=")
        if value or "=" in argv[i]:
            opts.append((name, value))
        elif name in value_opts:
            if i + 1 >= len(argv):
                fail(f"option {name} needs a value")
            opts.append((name, argv[i + 1]))
            i += 1
        else:
            opts.append((name, None))
        i += 1
    return opts, argv[i:]


def dockerfile_env(dockerfile: Path) -> tuple[dict[str, str], str | None, list[str], set[str]]:
    """ENV values, the last WORKDIR, the COPY sources and the ARG names of a Dockerfile."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    env, workdir, copies, args = {}, None, [], set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ENV":
            for item in shlex.split(rest):
                if "=" in item:
                    k, _, v = item.partition("=")
                    env[k] = v
        elif word == "WORKDIR":
            workdir = rest.strip()
        elif word == "COPY":
            words = shlex.split(rest)
            if any(w.startswith("--from") for w in words):
                continue  # from another stage of the build, not from the context
            parts = [p for p in words if not p.startswith("--")]
            copies.extend(parts[:-1])
        elif word == "ARG":
            args.add(rest.split("=")[0].strip())
    return env, workdir, copies, args


def dockerignored(context: Path, rel: str) -> bool:
    """Whether ``.dockerignore`` (last matching rule wins, ``!`` re-includes) excludes ``rel``."""
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return False
    excluded = False
    for rule in ignore.read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.split("/")[0], pattern):
            excluded = not negate
    return excluded


def build(argv: list[str]) -> int:
    opts, rest = split_options(argv, BUILD_VALUE_OPTS)
    if len(rest) != 1:
        fail(f"build takes one context folder, got {rest}")
    context = Path(rest[0])
    dockerfile = Path(dict(opts).get("-f") or dict(opts).get("--file") or context / "Dockerfile")
    if not dockerfile.is_file():
        fail(f"no Dockerfile at {dockerfile}")
    if not any(k in ("-t", "--tag") for k, _ in opts):
        fail("build without -t: the Makefile must tag the image it runs")
    _, _, copies, declared = dockerfile_env(dockerfile)
    for name, value in opts:
        if name == "--build-arg":
            key = value.split("=")[0]
            if key not in declared:
                fail(f"build arg {key} is not declared by an ARG in {dockerfile}")
    for src in copies:
        if any(ch in src for ch in "*?["):  # a glob such as wheel[s] may match nothing
            continue
        if not (context / src).exists():
            fail(f"COPY {src}: not in the build context {context}")
        if dockerignored(context, src):
            fail(f"COPY {src}: excluded by {context / '.dockerignore'}")
    return 0


def run(argv: list[str]) -> int:
    opts, rest = split_options(argv, RUN_VALUE_OPTS)
    if not rest:
        fail("run needs an image")
    args = rest[1:]
    env_img, workdir, _, _ = dockerfile_env(REPO / "Dockerfile")
    mounts: dict[str, str] = {}
    env = dict(os.environ)
    for name, value in opts:
        if name in ("-v", "--volume"):
            host, _, container = value.partition(":")
            container = container.split(":")[0]
            if not Path(host).is_absolute():
                fail(f"-v {value}: docker needs an absolute host path")
            Path(host).mkdir(parents=True, exist_ok=True)  # docker creates a missing host folder
            mounts[container.rstrip("/")] = host
        elif name in ("-e", "--env"):
            k, _, v = value.partition("=")
            env[k] = v

    def host_path(text: str) -> str:
        for container, host in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            if text == container or text.startswith(container + "/"):
                return host + text[len(container):]
        return text

    for k, v in env_img.items():
        if k in ("SLEEPBENCH_CACHE", "SLEEPBENCH_RESULTS", "MPLBACKEND"):
            env[k] = host_path(v)
    if args and args[0] == "--help" or not args:
        args = args or ["--help"]
    cwd = host_path(workdir) if workdir else None
    if cwd and not Path(cwd).is_dir():
        fail(f"the image's WORKDIR {workdir} is not mounted")
    cmd = [os.environ.get("FAKE_DOCKER_PYTHON", sys.executable), "-m", "sleepbench",
           *[host_path(a) for a in args]]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.call(cmd, env=env, cwd=cwd)


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_DOCKER_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(argv) + "\n")
    if not argv:
        fail("no command")
    command, rest = argv[0], argv[1:]
    if command == "build":
        return build(rest)
    if command == "run":
        return run(rest)
    if command in ("info", "version", "--version"):
        print("fake docker (sleepbench tests)")
        return 0
    fail(f"command {command!r} not imitated")
    return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
