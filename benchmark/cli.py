"""The ``sleepbench`` command line (also ``python -m sleepbench``).

Commands: ``data`` (fetch, prepare, info, surrogate, spectra), ``run`` (a suite, or models on a
protocol; ``--cost`` projects its wall time), ``tables``, ``report`` (HTML page, tables, figures,
paper LaTeX), ``cite``, ``fin`` (pretrain, report), ``new-entry`` and ``models``.

A :class:`~sleepbench.errors.UserError` (what the user got wrong) prints one line and exits 2;
every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from sleepbench.errors import UserError

DEFAULT_SURROGATE_DIR = Path("data/surrogate")
DEFAULT_RESULTS = Path(os.environ.get("SLEEPBENCH_RESULTS", "results"))


def parse_ints(text: str) -> list[int]:
    """``"0-19"``, ``"0,3,5-7"`` -> list of ints."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        elif part:
            out.append(int(part))
    return out


#: Options several commands share, each defined once: flag -> ``add_argument`` keywords (a command
#: may override one keyword, e.g. ``required=True``).
OPTIONS = {
    "--results": dict(type=Path, default=DEFAULT_RESULTS,
                      help="results folder (default $SLEEPBENCH_RESULTS, else ./results)"),
    "--data-dir": dict(type=Path, default=None, help="Sleep-EDF folder (any layout) or a surrogate folder"),
    "--cache-dir": dict(type=Path, default=None,
                        help="prepared-data cache (default $SLEEPBENCH_CACHE, else ~/.cache/sleepbench)"),
    "--suite": dict(default=None, help="suite name (benchmark/suites) or YAML path: its protocol, models, "
                                       "seeds, reference and declared contrasts"),
    "--protocol": dict(default=None, help="protocol name (benchmark/protocols)"),
    "--models": dict(default=None, help="comma-separated entry names (see `sleepbench models`)"),
    "--exclude": dict(default=None, help="comma-separated: all models but these"),
    "--reference": dict(default=None, help="model the others are compared with"),
    "--study": dict(choices=("cassette", "telemetry"), default="cassette"),
    "--jobs": dict(type=int, default=1, help="processes in parallel"),
    "--json": dict(action="store_true", help="print JSON"),
}


def _option(p: argparse.ArgumentParser, flag: str, **override) -> None:
    """Add the shared option ``flag`` (from :data:`OPTIONS`) to ``p``."""
    p.add_argument(flag, **{**OPTIONS[flag], **override})


def _options(p: argparse.ArgumentParser, *flags: str) -> None:
    for flag in flags:
        _option(p, flag)


def _add_prep_args(p: argparse.ArgumentParser) -> None:
    _option(p, "--data-dir", required=True)
    p.add_argument("--channels", default="EEG Fpz-Cz",
                   help="comma-separated: EEG Fpz-Cz, EEG Pz-Oz, EOG horizontal")
    p.add_argument("--sfreq", type=float, default=100.0, help="target sampling rate (Hz)")
    p.add_argument("--wake-margin-min", type=float, default=30.0,
                   help="wake kept before/after the sleep period, minutes (0 keeps all)")
    _option(p, "--study")
    p.add_argument("--subjects", type=parse_ints, default=None, help="e.g. 0-19")
    _option(p, "--cache-dir")
    _option(p, "--jobs", help="recordings prepared in parallel")
    p.add_argument("--no-verify", action="store_true", help="skip SHA-1 checks")


def _open(args):
    from sleepbench.datasets.sleep_edf import SleepEDF

    return SleepEDF(args.data_dir, channels=[c.strip() for c in args.channels.split(",")],
                    sfreq=args.sfreq, wake_margin_min=args.wake_margin_min, study=args.study,
                    subjects=args.subjects, cache_dir=args.cache_dir, n_jobs=args.jobs,
                    verify=not args.no_verify)


def _report_inventory(ds) -> None:
    inv = ds.inventory
    for line in inv.describe_problems():
        print(f"sleepbench: {line}", file=sys.stderr)
    if inv.absent:
        print(f"sleepbench: {len(inv.absent)} night(s) of the record table absent from "
              f"{ds.data_dir}", file=sys.stderr)


def cmd_prepare(args) -> int:
    ds = _open(args)
    _report_inventory(ds)
    t0 = time.perf_counter()
    failed = ds.prepare(progress=True)
    dt = time.perf_counter() - t0
    for name in failed:
        print(f"sleepbench: skipped {ds.failed[name]}", file=sys.stderr)
    n_epochs = sum(len(ds.load(r.name, signals=False).y) for r in ds.records)
    print(f"prepared {len(ds.records)} recording(s), {n_epochs} epochs ({ds.source}) in {dt:.1f} s;"
          f" cache {ds.cache_dir}; skipped {len(failed)}")
    if not ds.records:
        print(f"sleepbench: error: no usable recording in {ds.data_dir}", file=sys.stderr)
    return 0 if ds.records else 1


def cmd_info(args) -> int:
    from tabulate import tabulate

    from sleepbench.datasets.sleep_edf import STAGES

    ds = _open(args)
    _report_inventory(ds)
    ds.prepare(progress=not args.json)
    for name in sorted(ds.failed):
        print(f"sleepbench: skipped {ds.failed[name]}", file=sys.stderr)
    rows = []
    for rec in ds.records:
        r = ds.load(rec.name, signals=False)
        rows.append({"recording": r.name, "subject": r.subject, "night": r.night,
                     "n_epochs": int(len(r.y)), "counts": r.counts})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        table = [[r["recording"], r["subject"], r["night"], r["n_epochs"],
                  *(r["counts"][s] for s in STAGES)] for r in rows]
        if table:
            table.append(["total", "", "", sum(t[3] for t in table),
                          *(sum(t[4 + i] for t in table) for i in range(len(STAGES)))])
        print(f"{ds.source}: {ds.data_dir} ({len(rows)} complete recording(s), "
              f"channels {', '.join(ds.config.channels)}, {ds.config.sfreq:g} Hz)")
        print(tabulate(table, headers=["recording", "subject", "night", "epochs", *STAGES]))
    return 0 if rows else 1


def cmd_fetch(args) -> int:
    from sleepbench.datasets.sleep_edf import fetch

    inv = fetch(args.data_dir, args.subjects, nights=tuple(args.nights), study=args.study,
                base_url=args.base_url)
    for line in inv.describe_problems():
        print(f"sleepbench: {line}", file=sys.stderr)
    for rec in inv.absent:
        print(f"sleepbench: {rec.name}: not available", file=sys.stderr)
    print(f"{len(inv.complete)} night(s) complete and verified in {args.data_dir}; "
          f"{len(inv.incomplete) + len(inv.absent)} missing; {len(inv.corrupt)} failed")
    return 0 if inv.complete and not inv.corrupt else 1


def cmd_surrogate(args) -> int:
    from sleepbench.datasets.surrogate import SurrogateSpec, generate

    spec = SurrogateSpec(subjects=args.subjects, nights=args.nights, hours=args.hours,
                         seed=args.seed,
                         hypnogram_dir=str(args.hypnograms) if args.hypnograms else None,
                         telemetry_subjects=args.telemetry_subjects)
    manifest = generate(args.out, spec, n_jobs=args.jobs)
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*.edf"))
    real = sum(v != "markov" for v in manifest["stages_source"].values())
    print(f"wrote {len(manifest['records'])} surrogate night(s) of {args.subjects} subject(s) to "
          f"{args.out} in {manifest['seconds']:.1f} s, {size / 1e6:.0f} MB; stage sequences: "
          f"{real} real hypnogram(s), {len(manifest['records']) - real} from the transition model")
    return 0


def cmd_spectra(args) -> int:
    from sleepbench.datasets.spectra_report import write_spectra_report

    summary = write_spectra_report(args.data_dir, args.surrogate, args.out,
                                   channels=[c.strip() for c in args.channels.split(",")],
                                   cache_dir=args.cache_dir)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_models(args) -> int:
    from sleepbench.benchmark.registry import discover

    entries = discover()
    width = max(map(len, entries), default=0)
    for name, info in entries.items():
        print(f"{name:<{width}}  {info.kind:<7}  {info.description}")
    return 0


def cmd_run(args) -> int:
    from sleepbench.benchmark.runner import exit_status, list_jobs, prepare_data, run, summarize
    from sleepbench.benchmark.suites import load_suite

    project_first = args.projection  # None: the suite's setting, else yes
    if args.suite:
        suite = load_suite(args.suite)
        protocol, models, seeds = suite["protocol"], suite["models"], suite["seeds"]
        project_first = suite["projection"] if project_first is None else project_first
        if args.models:  # a subset of the suite, at the suite's settings (budgets)
            names = [m.strip() for m in args.models.split(",") if m.strip()]
            unknown = [m for m in names if m not in models]
            if unknown:
                raise UserError(f"model(s) {', '.join(unknown)} not in suite {suite['name']!r} "
                                 f"(its models: {', '.join(models)}); run them at their own defaults "
                                 f"with --protocol {protocol} --models ...")
            models = {m: models[m] for m in names}
    elif args.protocol and args.models:
        protocol, models = args.protocol, {m: {} for m in args.models.split(",")}
        seeds = [0]
    else:
        raise UserError("give --suite NAME, or --protocol P with --models a,b")
    if args.seeds:
        seeds = parse_ints(args.seeds)
    jobs = list_jobs(protocol, models, seeds, args.results, args.data_dir, args.cache_dir,
                threads=args.threads)
    # the device of each job: GPUs round-robin locally; resolved by the worker on a Dask cluster
    from dataclasses import replace

    from sleepbench.benchmark.cost import compare, cost_text, run_projection
    from sleepbench.benchmark.device import parse_precision
    from sleepbench.benchmark.executors import gpu_resources, job_devices

    devices = job_devices(args.executor, args.device, len(jobs), address=args.address)
    precision = parse_precision(args.precision)
    jobs = [replace(j, device=d, precision=precision) for j, d in zip(jobs, devices)]
    print(f"{protocol}: {len(models)} model(s) x {len(seeds)} seed(s) -> {len(jobs)} job(s); "
          f"records in {args.results}/runs/{protocol}", file=sys.stderr)
    stderr = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if args.cost:  # the cost, from a short calibration; nothing is run, generated or fetched
        print(cost_text(jobs, args.workers, args.data_dir, args.cache_dir, log=stderr))
        return 0
    options = {"address": args.address, "retries": args.retries} if args.executor == "dask" else {}
    if gpu_resources(args.executor, args.device):
        options["resources"] = gpu_resources(args.executor, args.device)
    data = prepare_data(jobs, args.workers)
    projection = (run_projection(jobs, args.workers, data, args.cache_dir, log=stderr)
                  if project_first is not False else None)
    t_run = time.perf_counter()
    results = run(jobs, executor=args.executor, workers=args.workers, force=args.force,
                  prepared=True, **options)
    print(summarize(results, data.problems()))
    if projection is not None:
        print(compare(projection, results, time.perf_counter() - t_run))
    return exit_status(results)


def cmd_tables(args) -> int:
    from sleepbench.benchmark.reporting import write_tables

    paths = write_tables(args.results, reference=args.reference, protocol=args.protocol,
                         models=args.models, exclude=args.exclude, suite=args.suite)
    shown = [p for p in paths if p.suffix == ".md" and not p.stem.endswith("-sleepstats")]
    for p in shown:
        print(p.read_text())
    for p in paths:  # long (model x statistic): named, not printed
        if p.suffix == ".md" and p.stem.endswith("-sleepstats"):
            print(f"sleep-statistics agreement: {p}", file=sys.stderr)
    print(f"wrote {len(paths)} file(s) under {Path(args.results) / 'tables'}", file=sys.stderr)
    return 0 if paths else 1


def cmd_new_entry(args) -> int:
    from sleepbench.benchmark.scaffold import write_entry

    entry, test = write_entry(args.name, args.kind, out_dir=args.out, test_dir=args.test_dir)
    plugin = "" if args.out is None else f"SLEEPBENCH_PLUGINS={entry} "
    print(f"wrote {entry} and {test}\nnext:\n  {plugin}python -m pytest -q {test}\n"
          f"  {plugin}sleepbench run --protocol quick --models {args.name} --results results\n"
          f"  {plugin}sleepbench tables --protocol quick")
    return 0


def cmd_cite(args) -> int:
    from sleepbench.benchmark.reporting.bibliography import bibtex_all, bibtex_for

    if args.all:
        print(bibtex_all(), end="")
        return 0
    if args.models:
        print(bibtex_for([m.strip() for m in args.models.split(",") if m.strip()], stats=True), end="")
        return 0
    from sleepbench.benchmark.reporting import build_tables
    from sleepbench.benchmark.reporting.paper import table_bibtex

    tables = build_tables(args.results)
    if not tables:
        raise UserError(f"no run records under {Path(args.results) / 'runs'}")
    if args.protocol and args.protocol not in tables:
        raise UserError(f"no records of protocol {args.protocol!r} under {args.results}; "
                         f"protocols with records: {', '.join(tables)}")
    if not args.protocol and len(tables) > 1:
        raise UserError(f"several protocols have records ({', '.join(tables)}): pick one with --protocol")
    name = args.protocol or next(iter(tables))
    print(table_bibtex(tables[name]), end="")
    return 0


def cmd_report(args) -> int:
    from sleepbench.benchmark.reporting.html import write_report

    paths = write_report(args.results, out_dir=args.out, reference=args.reference,
                         protocol=args.protocol, models=args.models, exclude=args.exclude,
                         suite=args.suite)
    pages = [p for p in paths if p.suffix == ".html"]
    if not pages:
        raise UserError(f"no run records under {Path(args.results) / 'runs'}: nothing to report")
    for p in pages:  # the tables, as `sleepbench tables` prints them; the pages' paths after
        md = p.with_suffix(".md")
        if md.is_file():
            print(md.read_text())
    for p in pages:
        print(f"results page: {p}", file=sys.stderr)
    paper = sorted({str(p.parent) for p in paths if p.parent.name == "paper"})
    print(f"wrote {len(paths)} file(s): {len(pages)} page(s), LaTeX tables and BibTeX in "
          f"{', '.join(paper)}", file=sys.stderr)
    return 0


def cmd_fin_pretrain(args) -> int:
    from sleepbench.models.fin import make_config
    from sleepbench.models.fin_pretrain import pretrain_fin
    from sleepbench.models.fin_rebuild import rebuild_fins
    from sleepbench.models.fin_weights import MANIFEST

    kinds = [k.strip() for k in args.kinds.split(",")]
    if args.seed != 0:  # not the shipped configuration: pre-train into the cache
        for kind in kinds:
            t0 = time.perf_counter()
            front = getattr(args, "front", "raw")
            module = pretrain_fin(kind, seed=args.seed, cache_dir=args.cache_dir,
                                  config=make_config(front) if front != "raw" else None)
            n = sum(p.numel() for p in module.parameters())
            print(f"{kind}: {n} parameters, ready in {time.perf_counter() - t0:.1f} s ({module.source})")
        return 0
    # the default FINs: rebuild from scratch and say whether they reproduce the shipped files
    res = rebuild_fins(kinds, write=args.write, real_dir=args.data_dir, cache_dir=args.cache_dir,
                       **({"front": args.front} if getattr(args, "front", "raw") != "raw" else {}))
    for kind, r in res.items():
        print(f"{kind}: {fin_rebuild_verdict(r)}")
    if args.write:
        print(f"wrote the rebuilt FINs and {MANIFEST}; commit them")
    return 0 if args.write or all(r["identical"] or r["equivalent"] for r in res.values()) else 1


def fin_rebuild_verdict(r: dict) -> str:
    """One line on a rebuilt default FIN (:func:`sleepbench.models.fin_rebuild.rebuild_fins`): bit-identical to the
    shipped file, equivalent to it (the R² figures), or neither."""
    from sleepbench.models.fin_rebuild import EQUIVALENT_R2

    head = f"sha256 {r['sha256'][:16]} ({r['kernel_set']} kernels, {r['train_seconds']:.0f} s): "
    if r["shipped_sha256"] is None:
        return head + "nothing shipped for this version"
    if r["identical"]:
        return head + "reproduced the shipped file bit for bit"
    if r.get("shipped_error"):
        return head + f"the shipped file did not load with this code ({r['shipped_error']}); replaced"
    new, old = r["r2"]["rebuilt"], r["r2"]["shipped"]
    figures = f"held-out synthetic R2 {new['synthetic']:.4f} vs shipped {old['synthetic']:.4f}"
    figures += f" (|dR2| {r['max_r2_diff']:.4f}, tolerance {EQUIVALENT_R2})"
    if new["real"] is not None:
        met = "targets met" if r.get("real_meets_targets") else "TARGETS NOT MET"
        figures += f", SC4001E0 R2 {new['real']:.4f} vs {old['real']:.4f} ({met})"
    else:
        figures += ", SC4001E0 not checked (no --data-dir)"
    if r["equivalent"]:
        return head + (f"not bit-identical to the shipped file (another CPU kernel set or torch build "
                       f"sums in another order; max |diff| {r['max_abs_diff']:.3g} over the parameters), "
                       f"but equivalent: {figures}; the shipped file stays the one used")
    return head + (f"DIFFERS from the shipped file beyond the equivalence check: {figures}: the FIN "
                   f"code, its configuration or the synthetic data changed; rebuild with --write and commit")


def cmd_fin_report(args) -> int:
    from sleepbench.models.fin import make_config
    from sleepbench.models.fin_report import fin_report

    front = getattr(args, "front", "raw")
    report = fin_report(real_dir=args.data_dir, cache_dir=args.cache_dir,
                        config=make_config(front) if front != "raw" else None)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for kind, parts in report.items():
        for where, m in parts.items():
            if isinstance(m, dict) and "r2" in m:
                per = "".join(f"  {n} {v:.3f}" for n, v in m.get("per_output", {}).items()) if len(
                    m.get("per_output", {})) > 1 else ""
                print(f"{kind:<10} {where:<10} R2 {m['r2']:.3f}  MAE {m['mae']:.4f}{per}")
            else:
                print(f"{kind:<10} {where:<10} {m}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sleepbench", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="fetch, prepare, generate and inspect datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("fetch", help="download Sleep-EDF nights through MNE (verifies SHA-1)")
    _option(p, "--data-dir", required=True, help="folder the nights are written to")
    p.add_argument("--subjects", type=parse_ints, default=parse_ints("0-19"),
                   help="default 0-19 (Sleep-EDF-20)")
    p.add_argument("--nights", type=parse_ints, default=[1, 2])
    _option(p, "--study")
    p.add_argument("--base-url", default=None, help="mirror of PhysioNet's sleep-edfx folder")
    p.set_defaults(func=cmd_fetch)

    p = dsub.add_parser("prepare", help="read, label, trim and cache every complete recording")
    _add_prep_args(p)
    p.set_defaults(func=cmd_prepare)

    p = dsub.add_parser("info", help="epochs and stage counts per recording")
    _add_prep_args(p)
    _option(p, "--json", help="print a JSON list")
    p.set_defaults(func=cmd_info)

    p = dsub.add_parser("surrogate", help="write a surrogate dataset in the Sleep-EDF format")
    p.add_argument("--subjects", type=int, default=20)
    p.add_argument("--nights", type=int, default=2, choices=(1, 2))
    p.add_argument("--hours", type=float, default=10.0,
                   help="hours per night (sleep period +- 30 min, cut to this)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hypnograms", type=Path, default=None,
                   help="folder of real *-Hypnogram.edf files to use as stage sequences")
    p.add_argument("--telemetry-subjects", type=int, default=0,
                   help="also write both nights of telemetry subjects 0..N-1 in the ST layout")
    p.add_argument("--out", type=Path, default=DEFAULT_SURROGATE_DIR)
    _option(p, "--jobs", help="nights written in parallel")
    p.set_defaults(func=cmd_surrogate)

    p = dsub.add_parser("spectra", help="per-stage mean spectra: surrogate vs the real night (PNG)")
    _option(p, "--data-dir", required=True, help="Sleep-EDF folder with SC4001E0")
    p.add_argument("--surrogate", type=Path, required=True, help="surrogate folder")
    p.add_argument("--channels", default="EEG Fpz-Cz,EEG Pz-Oz,EOG horizontal")
    p.add_argument("--out", type=Path, default=Path("results/figures/surrogate-spectra.png"))
    _option(p, "--cache-dir")
    p.set_defaults(func=cmd_spectra)

    p = sub.add_parser("run", help="run a suite, or models on a protocol (resumable)")
    _options(p, "--suite", "--protocol", "--models")
    p.add_argument("--seeds", help="e.g. 0,1,2 (default: the suite's, else 0)")
    _option(p, "--results")
    _option(p, "--data-dir", help="Sleep-EDF folder (Sleep-EDF protocols); surrogate protocols use it only "
                                  "if it holds a surrogate set, else generate theirs into the cache")
    _option(p, "--cache-dir")
    p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1),
                   help="fold jobs in parallel (default: one per core)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per job (default 1: fixed, so records do not depend on --workers)")
    p.add_argument("--executor", default="local", choices=("local", "dask"),
                   help="where jobs run: local processes (default) or a Dask cluster")
    p.add_argument("--address", default=None,
                   help="dask: scheduler HOST:PORT (default: a local cluster of --workers processes)")
    p.add_argument("--retries", type=int, default=2, help="dask: retries of a job whose worker died")
    p.add_argument("--force", action="store_true", help="redo jobs that already have a record")
    p.add_argument("--device", default=os.environ.get("SLEEPBENCH_DEVICE", "auto"),
                   help="auto (a GPU when torch sees one, else the CPU; default, or "
                        "$SLEEPBENCH_DEVICE), cpu, cuda (jobs spread over every GPU) or cuda:N")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                   help="fp32 (default: full float32, for tables that are cited) or bf16 (bfloat16 "
                        "autocast: faster on a GPU; its records are another experiment)")
    p.add_argument("--cost", action="store_true",
                   help="print the jobs and their projected wall time (a short calibration on this "
                        "machine) and exit without running them")
    p.add_argument("--projection", action=argparse.BooleanOptionalAction, default=None,
                   help="before running, print the projected wall time, and compare it with the real "
                        "one at the end (each entry's first projection calibrates it on this machine, "
                        "~10 s per entry, cached after). Default: the suite's `projection` (true but "
                        "in quick, whose smoke run would spend a fifth of its time calibrating)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tables", help="write tables and figures from the run records")
    _options(p, "--results", "--reference")
    _option(p, "--protocol", help="only this protocol's table")
    _option(p, "--models", help="comma-separated: only these models")
    _options(p, "--exclude", "--suite")
    p.set_defaults(func=cmd_tables)

    fin = sub.add_parser("fin", help="Feature Imitating Networks: pre-train, report imitation quality")
    fsub = fin.add_subparsers(dest="fin_command", required=True)
    p = fsub.add_parser("pretrain", help="rebuild the shipped FINs from synthetic signals and "
                        "compare (exit 1 only when they imitate worse or better than the shipped ones)")
    p.add_argument("--kinds", default="entropy,bandpower")
    p.add_argument("--seed", type=int, default=0,
                   help="0: the shipped FINs (rebuilt and compared); another seed: pre-trained into the cache")
    p.add_argument("--write", action="store_true",
                   help="replace the shipped FIN files and MANIFEST.json by the rebuilt ones")
    _option(p, "--data-dir", help="Sleep-EDF folder with SC4001E0: the equivalence check includes the real night")
    _option(p, "--cache-dir")
    p.add_argument("--front", choices=("raw", "fixed"), default="raw",
                   help="raw: the default FINs (version 6); fixed: the fixed-front-end FINs (version 5)")
    p.set_defaults(func=cmd_fin_pretrain)
    p = fsub.add_parser("report", help="imitation R2/MAE on synthetic data and the real night")
    _option(p, "--data-dir", help="Sleep-EDF folder with SC4001E0")
    _options(p, "--cache-dir", "--json")
    p.add_argument("--front", choices=("raw", "fixed"), default="raw",
                   help="raw: the default FINs (version 6); fixed: the fixed-front-end FINs (version 5)")
    p.set_defaults(func=cmd_fin_report)

    p = sub.add_parser("new-entry", help="write a ready-to-edit model entry and its test")
    p.add_argument("name", help="registry name, lowercase words joined by hyphens (e.g. my-cnn)")
    p.add_argument("--kind", choices=("classic", "deep"), default="classic",
                   help="classic: fit/predict_proba; deep: a torch module trained by the harness")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the entry (default models/; elsewhere it is a plugin file)")
    p.add_argument("--test-dir", type=Path, default=None,
                   help="folder for its test (default tests/, or beside a plugin)")
    p.set_defaults(func=cmd_new_entry)

    p = sub.add_parser("cite", help="print the BibTeX for a table: data, methods, statistics, sleepbench")
    _option(p, "--results")
    _option(p, "--protocol", help="the table's protocol (needed when several)")
    _option(p, "--models", help="comma-separated entries instead of a table's")
    p.add_argument("--all", action="store_true", help="every reference sleepbench knows (references.bib)")
    p.set_defaults(func=cmd_cite)

    p = sub.add_parser("report", help="one self-contained HTML page per protocol, plus tables, "
                                      "figures, LaTeX paper tables and BibTeX")
    _option(p, "--results")
    p.add_argument("--out", type=Path, default=None, help="default <results>/tables")
    _option(p, "--protocol", help="only this protocol")
    _option(p, "--models", help="comma-separated: only these models")
    _options(p, "--exclude", "--suite", "--reference")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("models", help="list registered model entries")
    p.set_defaults(func=cmd_models)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="sleepbench: %(message)s")
    try:
        return args.func(args)
    except UserError as exc:  # what the user got wrong: one line; anything else is a bug: traceback
        print(f"sleepbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
