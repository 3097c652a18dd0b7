"""Feature Imitating Networks (FINs): small nets pre-trained to compute entropy and band power.

A FIN (Saba-Sadiya, Alhanai & Ghassemi, ICASSP 2022) is a network trained, before the task, to
output a closed-form feature of its input; used inside a larger model it brings that feature (and the
layers that compute it) as an initialisation that the task can fine-tune. Here:

* ``entropy``: :func:`sleepbench.models.features.shannon_entropy` (bits, 32 bins over the epoch's range);
* ``bandpower``: :func:`sleepbench.models.features.relative_log_band_powers` (log10 relative power in
  δ θ α σ β, Welch): a 5-output regression.

Both are pre-trained on :mod:`sleepbench.datasets.fin_synthetic` signals (targets computed exactly on the same
float32 samples), deterministically (one thread). The default FINs (:class:`FINConfig` defaults,
seed 0) are **shipped** with the package, ``models/weights/fin-<kind>-v<FIN_VERSION>.pt``, and loaded
only after their SHA-256 matches ``models/weights/MANIFEST.json`` (:func:`load_shipped`): every user
of a commit gets the same FINs, and each record carries their hash. Any other configuration is
pre-trained on demand and cached under ``<cache>/fin/<kind>-<key>.pt``, the key a hash of
:class:`FINConfig` and :data:`FIN_VERSION` (one process at a time, under a file lock, so parallel
fold jobs wait for one pre-training instead of repeating it). ``sleepbench fin pretrain`` rebuilds
the default FINs and says whether they reproduce the shipped files; ``fin report`` measures them.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sleepbench.datasets.cache import atomic_write_bytes, config_key, default_cache_dir, file_lock
from sleepbench.datasets.fin_synthetic import synthetic_signals

from .features import FEATURES, compute_feature

#: Bump when the architecture, the synthetic data or the training code changes what a FIN contains.
FIN_VERSION = 5
#: The shipped default FINs and their checksums (``sleepbench fin pretrain --write`` rewrites them).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "MANIFEST.json"
#: torch threads used for pre-training (fixed, so the weights are the same from any caller)
PRETRAIN_THREADS = 1
N_SAMPLES = 3000  # 30 s at 100 Hz


#: Paths of each FIN (see :class:`FINModule`): the entropy FIN reads the amplitude histogram, the
#: band-power FIN the spectrum. Each path is what its feature is a function of; on held-out
#: synthetic signals the entropy FIN with the spectral path too did worse (R² 0.974 vs 0.986, a
#: prototype at 12 passes).
DEFAULT_PATHS = {"entropy": ("amplitude",), "bandpower": ("spectral",)}
PATHS = ("amplitude", "spectral")
#: Pre-training learning rate per kind (AdamW, cosine decay, 24 passes), chosen on held-out
#: synthetic R² of a prototype (entropy: 1e-2 -> 0.990, 2e-2 -> 0.945; band power: 1e-2 -> 0.973,
#: 2e-2 -> 0.984); no real night was used.
DEFAULT_LR = {"entropy": 1e-2, "bandpower": 2e-2}
#: The spectral front end: the ViViT's own spectrogram (``layout="context"``: epoch mean removed,
#: 2-s Hann window, 1-s hop, reflect-padded by 0.5 s, 0.5-30 Hz, 60 bins), so inside FIN-ViViT one
#: STFT serves both.
SPECTROGRAM = dict(sfreq=100.0, n_fft=200, hop=100, pad=50, fmin=0.5, fmax=30.0)
#: Power (µV²/Hz summed over the bins) added to an epoch's in-band total before the spectrum is made
#: relative: a flat epoch (the exact feature's total 0, every band at the floor) gives a relative
#: spectrum of ~0 rather than float32 rounding noise divided by ~0.
SPECTRUM_FLOOR = 1e-8


def amplitude_histogram(x: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fraction of each epoch's samples in ``bins`` equal bins spanning that epoch's own
    ``[min, max]`` (numpy.histogram's range, the exact entropy's), and two summaries of the spread.

    ``x`` [n, n_samples] -> histogram [n, bins] (rows sum to 1; a flat epoch has all in bin 0) and
    ``[log(range / sd), mean position in the range]`` [n, 2], both from the histogram's moments
    (bin centres; sd floored at a uniform bin's, 1 / (bins sqrt 12)). Invariant to the gain and
    offset of ``x``. No gradient: the input is data.
    """
    n, length = x.shape
    lo, hi = torch.aminmax(x, dim=1, keepdim=True)
    # 1 - 2^-20: the maximum lands in the last bin (numpy's closed last bin) without a clamp
    scale = (bins * (1 - 2 ** -20)) / (hi - lo).clamp_min(1e-30)
    idx = (x - lo).mul_(scale).long()
    # float counts of 1 are exact, so the sums do not depend on the order atomics add them in
    ones = torch.ones(1, device=x.device).expand(n, length)
    hist = torch.zeros(n, bins, device=x.device).scatter_add_(1, idx, ones)
    hist /= length
    centres = (torch.arange(bins, device=x.device, dtype=hist.dtype) + 0.5) / bins
    mu = hist @ centres
    sd = (hist @ centres.square() - mu.square()).clamp_min(1.0 / (12 * bins * bins)).sqrt()
    return hist, torch.stack([-torch.log(sd), mu], dim=1)


def relative_spectrum(psd: torch.Tensor) -> torch.Tensor:
    """Spectrogram power [..., n_freqs, n_frames] -> the epoch's relative spectrum [..., n_freqs]:
    the mean over frames (Welch's average of periodograms) over its in-band total
    (+ :data:`SPECTRUM_FLOOR`). Invariant to the gain of the signal."""
    p = psd.mean(-1)
    return p / (p.sum(-1, keepdim=True) + SPECTRUM_FLOOR)


class FINModule(nn.Module):
    """A FIN: input ``x`` [batch, 3000] µV (30 s at 100 Hz) -> the feature [batch, n_outputs].

    A fixed front end (no parameters; the input is data and needs no gradient), then learned layers:

    * ``"amplitude"`` (a set function of the samples, blind to their order like the entropy's
      histogram): the :func:`amplitude_histogram` of ``hist_bins`` fine bins over the epoch's range;
      a learned non-negative re-binning (``hist_bins`` -> ``soft_bins``, weights ``exp(w)``) gives
      soft bin masses ``q``; a pointwise MLP of ``(q, log q)`` (2 -> ``point_width`` -> ``point_width``)
      summed over the soft bins (DeepSets over bins), plus the two spread summaries.
    * ``"spectral"``: the :func:`relative_spectrum` of the ViViT's spectrogram (:data:`SPECTROGRAM`,
      60 bins 0.5-30 Hz); a learned non-negative filter bank (``n_filters`` filters, weights
      ``exp(w)``) and ``log`` (learned log band energies: a band power is a sum of bins).

    The pooled features go through a two-layer MLP to the embedding (``embed_dim``, default 32;
    :meth:`embed`) and a linear head to the standardised target; :meth:`forward` undoes the target
    standardisation so its output is in the feature's units.

    Why fixed front ends (FIN version 5): the learned strided convolutions of version 4 cost ~10 x
    the histogram and spectrum here on one CPU thread (FIN-ViViT inference 1,300 -> 5,400 epochs/s,
    ``make bench``), and imitated worse (held-out synthetic R²: entropy 0.977 -> 0.991, band power
    0.972 -> 0.988; SC4001E0: 0.990 -> 0.989, 0.956 -> 0.976).
    A pooled mean of a pointwise function of the samples (v4's amplitude path) is a linear function
    of a fine histogram, and a log band energy of a linear filter (v4's pooled conv channels) a log
    of a non-negative weighting of the power spectrum: the learned layers here keep both forms.
    """

    def __init__(self, n_outputs: int, paths=PATHS, hist_bins: int = 128, soft_bins: int = 32,
                 point_width: int = 16, n_filters: int = 32, embed_dim: int = 32):
        super().__init__()
        paths = tuple(paths)
        if not paths or set(paths) - set(PATHS):
            raise ValueError(f"paths {paths!r}: one or more of {PATHS}")
        self.paths, self.hist_bins = paths, int(hist_bins)
        self.n_outputs, self.embed_dim = int(n_outputs), int(embed_dim)
        # log-weights N(-4, 3): a few bins dominate each soft bin / filter at the start (positive
        # weights all near 1 would start every filter at the total power)
        n_pooled = 0
        if "amplitude" in paths:
            self.rebin = nn.Parameter(torch.randn(self.hist_bins, soft_bins) * 3.0 - 4.0)
            self.point = nn.Sequential(nn.Linear(2, point_width), nn.GELU(), nn.Linear(point_width, point_width))
            n_pooled += point_width + 2
        from .vivit import LogSpectrogram

        self.spectrogram = LogSpectrogram(**SPECTROGRAM)  # window buffer only: not in the state dict
        if "spectral" in paths:
            self.filters = nn.Parameter(torch.randn(self.spectrogram.n_freqs, n_filters) * 3.0 - 4.0)
            n_pooled += n_filters
        self.mlp = nn.Sequential(nn.Linear(n_pooled, 64), nn.GELU(), nn.Linear(64, self.embed_dim),
                                 nn.GELU())
        self.head = nn.Linear(self.embed_dim, self.n_outputs)
        self.register_buffer("target_mean", torch.zeros(self.n_outputs))
        self.register_buffer("target_std", torch.ones(self.n_outputs))

    def front_end(self, x: torch.Tensor, spectrum: torch.Tensor | None = None,
                  paths: tuple | None = None) -> dict:
        """``x`` [batch, 3000] µV -> what the learned layers read: ``hist``/``spread``
        (amplitude) and ``spectrum`` (spectral; pass one computed by the ViViT to reuse it), for
        ``paths`` (default: this FIN's; a branch of several FINs asks for all of theirs at once)."""
        if x.ndim != 2:
            raise ValueError(f"a FIN takes [batch, n_samples], got {tuple(x.shape)}")
        paths = self.paths if paths is None else paths
        with torch.no_grad():
            x = x.float()
            front = {}
            if "amplitude" in paths:
                front["hist"], front["spread"] = amplitude_histogram(x, self.hist_bins)
            if "spectral" in paths:
                front["spectrum"] = (spectrum if spectrum is not None
                                     else relative_spectrum(self.spectrogram.psd(x)))
        return front

    def embed_front(self, front: dict) -> torch.Tensor:
        """A :meth:`front_end` -> embedding [batch, embed_dim]."""
        pooled = []
        if "amplitude" in self.paths:
            q = front["hist"] @ torch.exp(self.rebin)                   # soft bin masses [n, soft]
            pooled += [self.point(torch.stack([q, torch.log(q + 1e-4)], dim=-1)).sum(1), front["spread"]]
        if "spectral" in self.paths:
            pooled.append(torch.log(front["spectrum"] @ torch.exp(self.filters) + 1e-6))
        return self.mlp(torch.cat(pooled, dim=1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, 3000] µV -> embedding [batch, embed_dim]."""
        return self.embed_front(self.front_end(x))

    def output(self, embedding: torch.Tensor) -> torch.Tensor:
        """Embedding -> feature estimate in the feature's units."""
        return self.head(embedding) * self.target_std + self.target_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, 3000] µV -> feature estimate [batch, n_outputs] (feature units)."""
        return self.output(self.embed(x))


@dataclass(frozen=True)
class FINConfig:
    """Pre-training of one FIN: synthetic data size, optimisation, architecture."""

    kind: str = "entropy"
    seed: int = 0
    n_train: int = 16000        # synthetic training signals
    n_valid: int = 2000         # held-out synthetic signals (model selection and the report)
    epochs: int = 24
    batch_size: int = 128
    lr: float | None = None     # None: DEFAULT_LR[kind]
    weight_decay: float = 1e-4
    paths: tuple | None = None  # None: DEFAULT_PATHS[kind]
    hist_bins: int = 128
    soft_bins: int = 32
    point_width: int = 16
    n_filters: int = 32
    embed_dim: int = 32

    def key(self) -> str:
        return config_key("fin", FIN_VERSION, asdict(self))


def build_fin(kind: str, config: FINConfig | None = None, seed: int = 0) -> FINModule:
    """A FIN of ``kind`` with random weights (``seed``), target statistics left at (0, 1)."""
    if kind not in FEATURES:
        raise ValueError(f"unknown FIN kind {kind!r}: choose from {tuple(FEATURES)}")
    config = config or FINConfig(kind=kind)
    torch.manual_seed(seed)
    return FINModule(len(FEATURES[kind][1]), paths=config.paths or DEFAULT_PATHS[kind],
                     hist_bins=config.hist_bins, soft_bins=config.soft_bins,
                     point_width=config.point_width, n_filters=config.n_filters,
                     embed_dim=config.embed_dim)


def synthetic_set(kind: str, n: int, seed: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic signals [n, 3000] float32 and their exact ``kind`` features [n, k] float32."""
    x = synthetic_signals(n, seed=seed, start=start)
    return x, compute_feature(kind, x).astype(np.float32)


def _evaluate(module: FINModule, x: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.metrics import mean_absolute_error, r2_score

    with torch.inference_mode():
        module.eval()
        device = module.head.weight.device  # a fine-tuned FIN may sit on the job's GPU
        pred = torch.cat([module(torch.from_numpy(x[i:i + 1024]).to(device))
                          for i in range(0, len(x), 1024)]).cpu().numpy()
    return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred)), "n": int(len(y))}


def train_fin(config: FINConfig, progress: bool = False) -> tuple[FINModule, dict]:
    """Pre-train a FIN from scratch (deterministic for a config); returns it and its history.

    MSE on standardised targets, AdamW with cosine decay, the weights of the best held-out
    synthetic R² kept.
    """
    from sleepbench.benchmark.training import seed_everything

    seed_everything(config.seed)
    # One thread, whoever calls: CPU kernels sum in a thread-count-dependent order, and the cached
    # weights must not depend on whether the CLI (all cores) or a fold worker built them.
    threads = torch.get_num_threads()
    torch.set_num_threads(PRETRAIN_THREADS)
    try:
        return _train_fin(config, progress)
    finally:
        torch.set_num_threads(threads)


def _train_fin(config: FINConfig, progress: bool) -> tuple[FINModule, dict]:
    from tqdm.auto import tqdm

    x, y = synthetic_set(config.kind, config.n_train, config.seed)
    xv, yv = synthetic_set(config.kind, config.n_valid, config.seed, start=config.n_train)
    module = build_fin(config.kind, config, seed=config.seed)
    mean, std = y.mean(0), y.std(0) + 1e-6
    module.target_mean.copy_(torch.from_numpy(mean))
    module.target_std.copy_(torch.from_numpy(std))
    yt = torch.from_numpy((y - mean) / std)
    # the front end is fixed: computed once for the whole set, not once per pass
    front = module.front_end(torch.from_numpy(x))
    steps = -(-len(x) // config.batch_size)
    opt = torch.optim.AdamW(module.parameters(), lr=config.lr or DEFAULT_LR[config.kind],
                            weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps * config.epochs)
    rng = np.random.default_rng(config.seed)
    best, history, t0 = None, [], time.perf_counter()
    for ep in tqdm(range(config.epochs), desc=f"FIN {config.kind}", disable=not progress, unit="pass"):
        module.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for i in range(0, len(x), config.batch_size):
            idx = order[i:i + config.batch_size]
            loss = F.mse_loss(module.head(module.embed_front({k: v[idx] for k, v in front.items()})), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        val = _evaluate(module, xv, yv)
        history.append({"pass": ep, "train_mse": total / len(x), "valid_r2": val["r2"]})
        if best is None or val["r2"] > best[0]:
            best = (val["r2"], {k: v.clone() for k, v in module.state_dict().items()})
    module.load_state_dict(best[1])
    info = {"config": asdict(config), "version": FIN_VERSION, "history": history,
            "synthetic": _evaluate(module, xv, yv), "train_seconds": time.perf_counter() - t0}
    return module.eval(), info


def fin_path(config: FINConfig, cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "fin" / f"{config.kind}-{config.key()}.pt"


def shipped_path(kind: str) -> Path:
    """Where the shipped default FIN of ``kind`` lives (``models/weights/fin-<kind>-v<N>.pt``)."""
    return WEIGHTS_DIR / f"fin-{kind}-v{FIN_VERSION}.pt"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialize_fin(module: FINModule, info: dict) -> bytes:
    """The bytes of a FIN file: its state dict and the deterministic part of its training record.

    The wall time is left out (kept in the manifest / a sidecar), so that a rebuild at one thread
    on CPU gives a byte-identical file and the SHA-256 says whether two FINs are the same.
    """
    buf = io.BytesIO()
    torch.save({"state_dict": module.state_dict(),
                "info": {k: v for k, v in info.items() if k != "train_seconds"}}, buf)
    return buf.getvalue()


def _module_from_bytes(kind: str, data: bytes, config: FINConfig, source: Path) -> FINModule:
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        module = build_fin(kind, config, seed=config.seed)
        module.load_state_dict(blob["state_dict"])
    except Exception as exc:  # a damaged or foreign file: say which
        raise ValueError(f"{source}: not a {kind} FIN of this version ({type(exc).__name__}: {exc})") from exc
    module.info = dict(blob.get("info", {}))
    module.sha256 = sha256_bytes(data)
    module.source = str(source)
    return module.eval()


def read_manifest() -> dict:
    """``models/weights/MANIFEST.json``: per kind, its file, SHA-256, config key and training facts."""
    if not MANIFEST.is_file():
        return {}
    try:
        return json.loads(MANIFEST.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{MANIFEST}: not valid JSON ({exc})") from exc


def shipped_entry(kind: str, config: FINConfig | None = None) -> dict | None:
    """The manifest entry of the shipped FIN that ``config`` (default: the default one) asks for,
    or None when nothing is shipped for it (another configuration, or another :data:`FIN_VERSION`)."""
    config = replace(config or FINConfig(), kind=kind)
    entry = read_manifest().get("fins", {}).get(kind)
    if entry is None or entry.get("config_key") != config.key():
        return None
    return entry


def load_shipped(kind: str, config: FINConfig | None = None) -> FINModule | None:
    """The shipped FIN of ``kind``, checked against its SHA-256, or None when none is shipped for
    ``config``. A file whose hash differs from the manifest's is refused (ValueError naming it)."""
    config = replace(config or FINConfig(), kind=kind)
    entry = shipped_entry(kind, config)
    if entry is None:
        return None
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped {kind} FIN listed in {MANIFEST} is missing; "
                                "restore it from the repository or rebuild it with "
                                "`sleepbench fin pretrain --write`")
    data = path.read_bytes()
    digest = sha256_bytes(data)
    if digest != entry["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest} does not match {entry['sha256']} in {MANIFEST}; "
                         "the shipped FIN weights were changed or damaged. Restore the file from the "
                         "repository, or rebuild both with `sleepbench fin pretrain --write`")
    module = _module_from_bytes(kind, data, config, path)
    module.info.setdefault("train_seconds", entry.get("train_seconds"))
    return module


def pretrain_fin(kind: str, seed: int = 0, cache_dir: Path | None = None,
                 config: FINConfig | None = None, progress: bool = True) -> FINModule:
    """The pre-trained FIN of ``kind``: the shipped one when ``config`` / ``seed`` are the defaults
    (checksum verified), else loaded from the cache, or trained once and cached.

    The module carries ``info`` (config, history, synthetic R²), ``sha256`` (of its file) and
    ``source`` (the file).
    """
    config = replace(config or FINConfig(), kind=kind, seed=seed)
    shipped = load_shipped(kind, config)
    if shipped is not None:
        return shipped
    path = fin_path(config, cache_dir)
    with file_lock(path.with_suffix(".lock")):
        if not path.is_file():
            module, info = train_fin(config, progress=progress)
            atomic_write_bytes(path.with_suffix(".json"),
                               json.dumps({"train_seconds": info["train_seconds"]}).encode())
            atomic_write_bytes(path, serialize_fin(module, info))
    module = _module_from_bytes(kind, path.read_bytes(), config, path)
    side = path.with_suffix(".json")
    module.info.setdefault("train_seconds",
                           json.loads(side.read_text())["train_seconds"] if side.is_file() else None)
    return module


#: A rebuilt default FIN whose bytes differ from the shipped file (another CPU kernel set or torch
#: build sums in another order, and the difference grows through pre-training) is *equivalent*
#: when its imitation R² is within this of the shipped FIN's, on held-out synthetic epochs and, when
#: given, on the real night SC4001E0. Rebuilds on two kernel sets of one machine differ in R² by
#: ~1e-3 (docs/reproducibility.md).
EQUIVALENT_R2 = 0.005
#: Held-out synthetic signals of the equivalence check: drawn after the training and validation
#: signals of the default configuration, so neither FIN saw them during pre-training or selection.
CHECK_N, CHECK_START = 2000, 18000


def check_sets(kind: str, real_x: np.ndarray | None = None) -> dict:
    """The equivalence check's signals and exact ``kind`` features: :data:`CHECK_N` held-out
    synthetic signals (``synthetic``) and ``real_x`` (``real``, None when not given)."""
    sets = {"synthetic": synthetic_set(kind, CHECK_N, FINConfig(kind=kind).seed, start=CHECK_START),
            "real": None}
    if real_x is not None:
        sets["real"] = (real_x, compute_feature(kind, real_x).astype(np.float32))
    return sets


def imitation_r2(module: FINModule, sets: dict) -> dict:
    """R² of ``module`` against the exact feature on each of :func:`check_sets` (None where absent)."""
    return {where: None if xy is None else _evaluate(module, *xy)["r2"] for where, xy in sets.items()}


def rebuild_fins(kinds=tuple(FEATURES), write: bool = False, progress: bool = True,
                 real_dir: Path | None = None, cache_dir: Path | None = None) -> dict:
    """Pre-train the default FINs afresh and compare them with the shipped files.

    Two comparisons, because only one of them holds across machines:

    * ``identical``: the rebuilt file is byte-identical to the shipped one. This holds only on the
      CPU kernel set and torch build that wrote the shipped file (one thread on CPU);
    * ``equivalent``: the rebuilt FIN imitates as well as the shipped one, |ΔR²| <=
      :data:`EQUIVALENT_R2` on held-out synthetic signals and, with ``real_dir``, on every epoch of
      SC4001E0. This is what a rebuild on any machine must reproduce.

    Returns per kind: ``sha256`` of the rebuilt file, ``shipped_sha256`` (None when nothing is
    shipped for this version), ``identical``, ``max_abs_diff`` over the parameters, ``r2``
    (``{"rebuilt": {...}, "shipped": {...}}`` from :func:`imitation_r2`), ``max_r2_diff``,
    ``equivalent`` (None when nothing is shipped), the rebuild's ``kernel_set`` and
    ``train_seconds``. With ``write`` the rebuilt files replace the shipped ones and the manifest
    is rewritten (for a maintainer who changed the FINs; commit both).
    """
    from sleepbench.benchmark.store import cpu_kernel_set

    real_x = real_epochs(Path(real_dir), cache_dir) if real_dir is not None else None
    out, written = {}, {}
    for kind in kinds:
        config = FINConfig(kind=kind)
        module, info = train_fin(config, progress=progress)
        data = serialize_fin(module, info)
        digest = sha256_bytes(data)
        entry = shipped_entry(kind, config)
        sets = check_sets(kind, real_x)
        res = {"sha256": digest, "shipped_sha256": entry["sha256"] if entry else None,
               "identical": bool(entry and entry["sha256"] == digest), "max_abs_diff": None,
               "r2": {"rebuilt": imitation_r2(module, sets)}, "max_r2_diff": None,
               "equivalent": None, "kernel_set": cpu_kernel_set(),
               "train_seconds": round(info["train_seconds"], 1)}
        shipped = load_shipped(kind, config) if entry else None
        if shipped is not None:
            old = shipped.state_dict()
            res["max_abs_diff"] = max(float((old[k].float() - v.float()).abs().max())
                                      for k, v in module.state_dict().items())
            res["r2"]["shipped"] = imitation_r2(shipped, sets)
            res["max_r2_diff"] = max(abs(res["r2"]["rebuilt"][w] - res["r2"]["shipped"][w])
                                     for w in ("synthetic", "real") if res["r2"]["rebuilt"][w] is not None)
            res["equivalent"] = res["max_r2_diff"] <= EQUIVALENT_R2
        if write:
            path = shipped_path(kind)
            atomic_write_bytes(path, data)
            path.chmod(0o644)  # readable by an image's non-root user (mkstemp creates 0600)
            written[kind] = {"file": path.name, "sha256": digest, "config_key": config.key(),
                             "config": asdict(config), "synthetic": info["synthetic"],
                             "train_seconds": res["train_seconds"], "torch": torch.__version__,
                             "kernel_set": res["kernel_set"]}
        out[kind] = res
    if write:  # merge into the manifest as it is now (another kind may have been rebuilt meanwhile)
        with file_lock(Path(default_cache_dir()) / "fin" / "manifest.lock"):
            manifest = read_manifest()
            fins = dict(manifest.get("fins", {})) if manifest.get("version") == FIN_VERSION else {}
            fins.update(written)
            atomic_write_bytes(MANIFEST, (json.dumps({"version": FIN_VERSION, "fins": dict(sorted(fins.items()))},
                                                     indent=1) + "\n").encode())
            MANIFEST.chmod(0o644)
    return out


def load_fin(kind: str, pretrained: bool = True, cache_dir: Path | None = None, seed: int = 0,
             config: FINConfig | None = None) -> FINModule:
    """A FIN for a fused model: pre-trained (shipped or cached) or, for the control, randomly
    initialised (``sha256`` None).

    The random control still gets the target statistics of a fixed synthetic sample, so the two
    differ only in the weights that pre-training sets.
    """
    if pretrained:
        return pretrain_fin(kind, seed=seed, cache_dir=cache_dir, config=config, progress=False)
    config = replace(config or FINConfig(), kind=kind, seed=seed)
    module = build_fin(kind, config, seed=seed)
    mean, std = target_stats(kind)
    module.target_mean.copy_(torch.from_numpy(mean))
    module.target_std.copy_(torch.from_numpy(std))
    module.sha256, module.source = None, None
    return module.eval()


def target_stats(kind: str, n: int = 512, seed: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of feature ``kind`` over a fixed synthetic sample (float32 [k] each): the fixed
    standardisation of the random control and of the oracle's exact features."""
    _, y = synthetic_set(kind, n, seed=seed)
    return y.mean(0), y.std(0) + 1e-6


def real_epochs(real_dir: Path, cache_dir: Path | None = None) -> np.ndarray:
    """EEG Fpz-Cz epochs [n, 3000] µV of the real night SC4001E0 after default preprocessing."""
    from sleepbench.datasets.sleep_edf import SleepEDF

    ds = SleepEDF(real_dir, subjects=[0], cache_dir=cache_dir)
    if "SC4001E0" not in {r.name for r in ds.records}:
        raise FileNotFoundError(f"{real_dir}: the real night SC4001E0 is not there (or is corrupt)")
    return ds.load("SC4001E0").x[:, 0]


def fin_report(real_dir: Path | None = None, cache_dir: Path | None = None,
               kinds=tuple(FEATURES), config: FINConfig | None = None) -> dict:
    """Imitation quality per FIN: R² and MAE on held-out synthetic signals and on real epochs.

    ``real`` compares the FIN with the exact feature of every epoch of SC4001E0 (EEG Fpz-Cz,
    default preprocessing); it is absent, with the reason, when ``real_dir`` does not hold that
    night. R² of a multi-output FIN is the mean of its outputs' R² (``r2_score`` uniform average);
    ``per_output`` lists each.
    """
    from sklearn.metrics import r2_score

    real_x = None
    if real_dir is not None:
        real_x = real_epochs(Path(real_dir), cache_dir)
    report = {}
    for kind in kinds:
        module = pretrain_fin(kind, cache_dir=cache_dir, config=config, progress=True)
        entry = {"synthetic": module.info["synthetic"]}
        if real_x is not None:
            y = compute_feature(kind, real_x).astype(np.float32)
            entry["real"] = _evaluate(module, real_x, y)
            with torch.inference_mode():
                pred = module(torch.from_numpy(real_x)).numpy()
            names = FEATURES[kind][1]
            entry["real"]["per_output"] = {n: float(r2_score(y[:, i], pred[:, i])) for i, n in enumerate(names)}
        else:
            entry["real"] = "no real data given (--data-dir with SC4001E0)"
        seconds = module.info.get("train_seconds")
        entry["train_seconds"] = None if seconds is None else round(seconds, 1)
        report[kind] = entry
    return report
