"""Network precision chosen by measurement (``precision="auto"``).

Whether bf16 (or fp16 on a GPU) is faster than fp32 depends on the machine: a CPU with
AVX512-BF16 runs bf16 matmuls about 2x faster than fp32 (1.7-2.3x measured on the development
machine, more with AMX), one with AVX2 only runs them tens of times slower, and a small model
may be slower in bf16 even where matmuls are faster. So the
engine does not assume: :func:`choose_precision` runs a quick probe — the model on a short
generated reference input, once per candidate precision — and picks the fastest precision whose
output stays within a quality bound of fp32 (SDR >= :data:`MIN_SDR_DB`), fp32 where nothing wins.

The choice is cached on disk (``precision.json`` in the user cache folder, or
``$STEMWEAVE_CACHE_DIR``), keyed by the model's weights hash, the torch version and the machine
(CPU model, flags and thread count, or GPU name), so the probe runs once per model and machine.

Cost: two 0.25-s runs and two 2-s runs per precision (interleaved with fp32's), the time being
the better of the two 2-s runs (a few seconds for the full-size model on a quiet 2-core CPU; a
measurement taken under heavy load is cached like any other: delete the cache file to redo it).
Candidates the hardware has no native support for (bf16 on a CPU without AVX512/AMX, as torch
reports it) are not measured: there they are tens of times slower and the probe would take
minutes.

Thread count: not probed. torch's default is one thread per physical core; more threads than
cores were not found to help or harm consistently on the 2-core development machine (its
figures are dominated by other processes' load), and a choice measured under a passing load
should not be cached (docs/engine.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.resample import resample

log = logging.getLogger(__name__)

__all__ = ["MIN_SDR_DB", "PrecisionChoice", "cache_dir", "cached_choices", "choose_precision",
           "default_candidates", "forward_fn", "latest_summary", "model_hash"]

#: a precision must keep its output at least this close to fp32 (SDR, dB) to be chosen.
MIN_SDR_DB = 35.0
#: ... and be at least this much faster than fp32 (fraction of fp32's time) to be worth it.
MIN_GAIN = 0.10
#: the reference input (seconds) for speed and quality, and the short first run.
REFERENCE_S = 2.0
SHORT_S = 0.25
#: a candidate whose short run takes this many times fp32's is dropped unmeasured further.
EARLY_REJECT = 2.0
CACHE_FILE = "precision.json"
#: part of the cache key: bumped when what a precision runs changes, so that choices measured
#: with the old forward are measured again. 2: CPU bf16 runs the inference kernels in bf16
#: (it was autocast, ~1.7x slower: a cached "fp32" may no longer be right).
FORWARD_VERSION = 2
#: entries kept in the cache file (oldest dropped first).
MAX_ENTRIES = 64

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

#: forward(mixes) -> (batch, stems, 1, T_out), as :data:`core.apply.Forward`.
Forward = Callable[[list[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class PrecisionChoice:
    """The probe's result.

    Attributes:
        precision: the chosen precision (``"fp32"``, ``"bf16"``, ``"fp16"``).
        seconds: per measured precision, the time of one forward over the reference input.
        sdr_db: per candidate, SDR of its output against fp32's (dB).
        rejected: per candidate not chosen, why.
        cached: read from the cache rather than measured now.
        key: the cache key.
        not_measured: why nothing was measured, when nothing was (no other precision to try
            on this device, or a family that runs in fp32 only); ``""`` when measured.
    """

    precision: str
    seconds: dict[str, float] = field(default_factory=dict)
    sdr_db: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    cached: bool = False
    key: str = ""
    not_measured: str = ""

    @property
    def measured(self) -> bool:
        """Whether the choice comes from a measurement (now or cached)."""
        return not self.not_measured

    def describe(self) -> str:
        """One line for logs and the CLI: what was chosen and the figures behind it, or why
        nothing was measured."""
        if self.not_measured:
            return f"{self.precision} (not measured: {self.not_measured})"
        figs = ", ".join(
            f"{p} {s:.2f} s" + (f" ({self.sdr_db[p]:.1f} dB vs fp32)" if p in self.sdr_db else "")
            for p, s in self.seconds.items())
        why = "; ".join(f"{p}: {r}" for p, r in self.rejected.items())
        src = "cached measurement" if self.cached else "measured now"
        return (f"{self.precision} ({src}: {figs or 'nothing else to try'}"
                + (f"; not chosen — {why}" if why else "") + ")")


def forward_fn(model: torch.nn.Module, device: torch.device, precision: str) -> Forward:
    """The engine's model call in ``precision``.

    bf16 on the CPU runs the model's inference kernels with bf16 activations
    (``model(..., dtype=torch.bfloat16)``: weights cast on use, spectrogram branch and
    overlap-add in fp32); autocast, which bypasses those kernels, ran the same network 1.5-2x
    slower (docs/engine.md). Elsewhere bf16/fp16 use autocast.
    """
    if precision == "fp32":
        return lambda mixes: model(mixes, last_only=True)[-1]
    dtype = _DTYPES[precision]
    if device.type == "cpu" and dtype == torch.bfloat16:
        return lambda mixes: model(mixes, last_only=True, dtype=dtype)[-1]

    def run(mixes: list[torch.Tensor]) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return model(mixes, last_only=True)[-1]

    return run


def cpu_bf16_native() -> bool:
    """Whether torch reports bf16 kernels for this CPU (AVX512 / AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def default_candidates(device: torch.device) -> tuple[str, ...]:
    """Precisions worth measuring against fp32 on ``device``."""
    if device.type == "cuda":
        return ("bf16", "fp16") if torch.cuda.is_bf16_supported() else ("fp16",)
    if device.type == "cpu":
        return ("bf16",) if cpu_bf16_native() else ()
    return ()  # MPS: fp32 only (autocast support varies by OS/torch version)


def model_hash(model: torch.nn.Module) -> str:
    """A hash of the model's configuration and every weight (hex)."""
    h = hashlib.blake2b(digest_size=16)
    cfg = getattr(model, "config", None)
    if cfg is not None:
        h.update(repr(cfg).encode())
    for name, t in model.state_dict().items():
        t = t.detach()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _machine(device: torch.device) -> dict[str, str]:
    """What the speed of each precision depends on, besides the model."""
    info = {"torch": torch.__version__, "device": device.type}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = str(torch.version.cuda)
    else:
        name, flags = platform.processor() or platform.machine(), ""
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name in ("", platform.machine()):
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = value.strip()
        info["cpu"] = name
        info["cpu_flags"] = hashlib.blake2b(flags.encode(), digest_size=8).hexdigest()
        info["capability"] = str(torch.backends.cpu.get_cpu_capability())
        info["threads"] = str(torch.get_num_threads())
    return info


def cache_dir() -> Path:
    """``$STEMWEAVE_CACHE_DIR`` if set, else the user cache folder."""
    env = os.environ.get("STEMWEAVE_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("stemweave", "Stemweave"))


def _read_cache(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, key: str, entry: dict) -> None:
    """Add ``entry`` under ``key`` (atomic replace; a cache that cannot be written is skipped)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data.pop(key, None)
        data[key] = entry
        while len(data) > MAX_ENTRIES:
            data.pop(next(iter(data)))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not cache the precision choice in %s: %s", path, exc)


def cached_choices(directory: str | os.PathLike[str] | None = None) -> list[dict]:
    """Every cached choice, oldest first (for display): dicts with ``precision``, ``machine``,
    ``model``, ``seconds``, ``sdr_db``, ``created``."""
    path = Path(directory if directory is not None else cache_dir()) / CACHE_FILE
    return [e for e in _read_cache(path).values() if isinstance(e, dict) and "precision" in e]


def latest_summary(directory: str | os.PathLike[str] | None = None) -> str | None:
    """The newest cached choice made with this torch version, in words (for the GUI's
    settings), or ``None`` when nothing was measured yet. Reads the cache file only."""
    mine = [e for e in cached_choices(directory) if isinstance(e.get("machine"), dict)
            and e["machine"].get("torch") == torch.__version__]
    if not mine:
        return None
    e = mine[-1]
    where = e["machine"].get("gpu") or "this CPU"
    p, secs, sdrs = e["precision"], e.get("seconds", {}), e.get("sdr_db", {})
    if p != "fp32" and p in secs and secs.get("fp32"):
        why = (f"{secs['fp32'] / secs[p]:.1f}x faster than fp32, "
               f"{sdrs.get(p, float('nan')):.0f} dB SDR vs fp32")
    else:
        tried = [c for c in secs if c != "fp32"] + list(e.get("rejected", {}))
        why = ("nothing faster within the quality bound: " + ", ".join(dict.fromkeys(tried))
               if tried else "no other precision to try")
    return f"{p} on {where} ({why}; measured {e.get('created', '')})"


def reference_input(stage_rates: tuple[int, ...], hop: int, seconds: float,
                    device: torch.device) -> list[torch.Tensor]:
    """A generated mono song excerpt (bass, chords, drums, a voice-like tone), normalised as the
    engine does, at every stage rate: ``(1, 1, T_s)`` tensors, ``T_0`` a multiple of ``hop``."""
    rate = 44100
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(0)
    x = 0.4 * np.sin(2 * np.pi * 55 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    for f in (220.0, 277.2, 329.6):
        x += 0.15 * np.sign(np.sin(2 * np.pi * f * t)) * np.exp(-2 * (t % 0.5))
    beat = (t % 0.25) < 0.03
    x += 0.3 * rng.standard_normal(n) * beat
    x += 0.5 * np.sin(2 * np.pi * 60 * t) * np.exp(-25 * (t % 0.5))
    vib = 440 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    x += 0.2 * np.sin(2 * np.pi * np.cumsum(vib) / rate) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    x = (x / x.std()).astype(np.float32)[None]
    n0 = max(hop, int(seconds * stage_rates[0]) // hop * hop)
    mixes = []
    for r in stage_rates:
        y = resample(x, rate, r)
        m = n0 * r // stage_rates[0]
        y = np.pad(y, ((0, 0), (0, max(0, m - y.shape[-1]))))[:, :m]
        mixes.append(torch.from_numpy(np.ascontiguousarray(y[None])).to(device))
    return mixes


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    err = est.astype(np.float64) - ref
    num, den = float(np.sum(ref * ref)), float(np.sum(err * err))
    if den == 0.0:
        return float("inf")
    if not np.isfinite(den):
        return float("-inf")
    return 10.0 * np.log10(max(num, 1e-30) / den)


def _timed(fn: Forward, mixes: list[torch.Tensor],
           device: torch.device) -> tuple[np.ndarray, float]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    with torch.inference_mode():
        out = fn(mixes)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    dt = time.perf_counter() - t
    return out.float().cpu().numpy(), dt


def choose_precision(model: torch.nn.Module, device: torch.device, *,
                     candidates: Mapping[str, Forward] | None = None,
                     directory: str | os.PathLike[str] | None = None, use_cache: bool = True,
                     min_sdr_db: float = MIN_SDR_DB) -> PrecisionChoice:
    """Measure and pick the fastest precision whose output stays within ``min_sdr_db`` of fp32.

    The model must already be in the state it separates in (eval mode, baked, its
    float64-magnitude setting). Runs on the calling thread (never call it from a GUI thread).

    Args:
        model: a :class:`core.model.MetaTasNet` (anything with ``config.sample_rates``,
            ``config.W`` and ``model(mixes, last_only=True)``).
        device: where the model lives.
        candidates: precision name -> forward function to measure against fp32 (default: the
            real autocast forwards of :func:`default_candidates`). A seam for tests.
        directory: the cache folder (default :func:`cache_dir`).
        use_cache: read and write the cache.
        min_sdr_db: the quality bound.

    Returns:
        the choice, with the figures behind it.
    """
    if candidates is None:
        candidates = {p: forward_fn(model, device, p) for p in default_candidates(device)}
    machine = _machine(device)
    ident = {"model": model_hash(model), "machine": machine,
             "candidates": sorted(candidates), "min_sdr_db": min_sdr_db,
             "forward": FORWARD_VERSION}
    key = hashlib.blake2b(json.dumps(ident, sort_keys=True).encode(),
                          digest_size=16).hexdigest()
    if not candidates:  # nothing to measure, nothing to cache
        return PrecisionChoice("fp32", key=key, not_measured=f"no precision other than fp32 is "
                               f"offered on this {device.type.upper()}")
    path = Path(directory if directory is not None else cache_dir()) / CACHE_FILE
    if use_cache:
        entry = _read_cache(path).get(key)
        if isinstance(entry, dict) and entry.get("precision") in ("fp32", *candidates):
            return PrecisionChoice(entry["precision"], dict(entry.get("seconds", {})),
                                   dict(entry.get("sdr_db", {})),
                                   dict(entry.get("rejected", {})), cached=True, key=key)
    choice = _probe(model, device, candidates, min_sdr_db, key)
    log.debug("precision: %s", choice.describe())
    if use_cache:
        _write_cache(path, key, {**{k: v for k, v in asdict(choice).items()
                                    if k not in ("cached", "key")},
                                 "model": ident["model"], "machine": machine,
                                 "created": time.strftime("%Y-%m-%d %H:%M:%S")})
    return choice


def _probe(model: torch.nn.Module, device: torch.device, candidates: Mapping[str, Forward],
           min_sdr_db: float, key: str) -> PrecisionChoice:
    """Short runs (set-up, then a timed one) drop candidates far slower than fp32; the others
    run the reference input twice, interleaved with fp32 so that a burst of other processes'
    load hits every precision alike, and keep the better time."""
    cfg = model.config
    short = reference_input(tuple(cfg.sample_rates), cfg.W, SHORT_S, device)
    ref_in = reference_input(tuple(cfg.sample_rates), cfg.W, REFERENCE_S, device)
    fns = {"fp32": forward_fn(model, device, "fp32"), **candidates}
    t_short: dict[str, float] = {}
    rejected: dict[str, str] = {}
    for name, fn in fns.items():
        _timed(fn, short, device)  # first call: one-time set-up
        t_short[name] = _timed(fn, short, device)[1]
        if name != "fp32" and t_short[name] > EARLY_REJECT * t_short["fp32"]:
            rejected[name] = f"short run {t_short[name] / t_short['fp32']:.1f}x slower than fp32"
    live = [n for n in fns if n not in rejected]
    outs: dict[str, np.ndarray] = {}
    seconds = {n: float("inf") for n in live}
    for _ in range(2):
        for name in live:
            out, t = _timed(fns[name], ref_in, device)
            outs.setdefault(name, out)
            seconds[name] = min(seconds[name], t)
    ref, t32 = outs["fp32"], seconds["fp32"]
    sdrs: dict[str, float] = {}
    for name in live[1:]:
        out, t = outs[name], seconds[name]
        sdrs[name] = _sdr(ref, out) if out.shape == ref.shape else float("-inf")
        if not sdrs[name] >= min_sdr_db:
            rejected[name] = f"SDR {sdrs[name]:.1f} dB < {min_sdr_db:g} dB"
        elif t > (1 - MIN_GAIN) * t32:
            rejected[name] = f"not faster ({t / t32:.2f}x fp32's time)"
    passing = [p for p in live[1:] if p not in rejected]
    best = min(passing, key=seconds.__getitem__, default="fp32")
    return PrecisionChoice(best, seconds, sdrs, rejected, cached=False, key=key)
