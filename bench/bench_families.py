"""HTDemucs vs Meta-TasNet through the same engine on the CPU: wall time, real-time factor and
peak RSS for one stereo 44.1 kHz synthetic song (3 min unless ``--seconds``).

Both networks have their real default architecture with random weights (no download is possible
where this was written): HTDemucs as the library builds ``htdemucs`` (41.5 M parameters:
``bottom_channels=512``, 7.8-s training segment), Meta-TasNet's full MUSDB18 configuration.
Random weights cost the same arithmetic as trained ones. Each family runs in a fresh process
(``Separator.separate_file``, streaming, fp32), so each has its own peak RSS.

Usage::

    .venv/bin/python bench/bench_families.py [--seconds 180] [--threads 1]
        [--families htdemucs,metatasnet]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATE = 44100
ROOT = Path(__file__).resolve().parents[1]


def _song(path: Path, seconds: float) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", RATE, 2, "PCM_16") as f:
        for a in range(0, int(seconds * RATE), RATE * 10):
            t = (a + np.arange(min(RATE * 10, int(seconds * RATE) - a))) / RATE
            x = np.stack([0.2 * np.sin(2 * np.pi * 110 * t) + 0.05 * rng.standard_normal(t.size),
                          0.2 * np.sin(2 * np.pi * 165 * t) + 0.05 * rng.standard_normal(t.size)])
            f.write(x.T.astype(np.float32))


def _model(family: str):  # noqa: ANN202
    import torch

    torch.manual_seed(0)
    if family == "htdemucs":
        from fractions import Fraction

        from demucs.htdemucs import HTDemucs

        from core.families.htdemucs import HTDemucsFamily

        return HTDemucsFamily([HTDemucs(["drums", "bass", "other", "vocals"],
                                        bottom_channels=512, segment=Fraction(39, 5)).eval()])
    from core.config import ModelConfig
    from core.model import MetaTasNet

    return MetaTasNet(ModelConfig()).eval()


def child(family: str, song: str, threads: int) -> None:
    """One measurement, printed as JSON."""
    sys.path.insert(0, str(ROOT))
    from core.families import parameter_count, wrap
    from core.separator import Separator

    fam = wrap(_model(family))
    sep = Separator(fam, device="cpu", threads=threads, precision="fp32")
    import soundfile as sf

    seconds = sf.info(song).duration
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        sep.separate_file(song, out)
        wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    print(json.dumps({"family": family, "parameters": parameter_count(fam), "seconds": seconds,
                      "wall_s": wall, "rtf": wall / seconds, "peak_rss_mib": rss,
                      "segment_s": sep.segment_s, "overlap": sep.overlap}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--families", default="htdemucs,metatasnet")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--song", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.song, a.threads)
        return
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.wav"
        _song(song, a.seconds)
        for family in a.families.split(","):
            res = subprocess.run([sys.executable, __file__, "--child", family, "--song",
                                  str(song), "--threads", str(a.threads)],
                                 capture_output=True, text=True, check=False)
            if res.returncode:
                print(f"{family}: failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{r['family']:<11} {r['parameters'] / 1e6:5.1f} M params  "
                  f"{r['seconds']:.0f} s song  wall {r['wall_s']:.1f} s  RTF {r['rtf']:.2f}  "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB  (window {r['segment_s']:.1f} s, "
                  f"overlap {r['overlap']:g})", flush=True)


if __name__ == "__main__":
    main()
