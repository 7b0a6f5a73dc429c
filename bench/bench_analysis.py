"""Accuracy of the musical analysis (core.analysis) against the synthesiser's truth.

Every generated song (training.synth) comes with its plan: tempo, beat grid (4/4 from 0 s), key
and chords. This renders ``--songs`` songs of ``--seconds`` and scores ``core.analysis.analyze``
on the mixture, on the true stems (drums for bar lines, bass + other for the harmony) and, with
``--separated``, on the stems the built-in model separates from the mixture (what the window
does after a separation), with mir_eval:

* tempo: estimate within 4 % of the truth (and allowing double/half: "tempo x2"),
* meter: the fraction of songs found in 4/4 (all generated songs are),
* beat F-measure and downbeat F-measure (70 ms window),
* key: exact (tonic and mode; dorian counts as minor, mixolydian as major) and MIREX weighted
  score (fifths, relative and parallel keys get partial credit),
* chords: duration-weighted recall of the root, of the major/minor class and of the full symbol
  (sevenths included), over the time the bass or "other" stem plays.

Usage::

    nice .venv/bin/python bench/bench_analysis.py --songs 20 --seconds 20 --separated
    nice .venv/bin/python bench/bench_analysis.py --long 600   # time and peak memory, 10 min
    nice .venv/bin/python bench/bench_analysis.py --memory 180 600  # each in a fresh process
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis import ANALYSIS_RATE, analyze, names  # noqa: E402
from training.synth import render_song, song_rng  # noqa: E402
from training.synth.compose import SongPlan  # noqa: E402

MODE_FAMILY = {"major": "major", "mixolydian": "major", "minor": "minor", "dorian": "minor"}


def truth(plan: SongPlan, seconds: float) -> dict:
    """Reference beats, downbeats, key and chord intervals of a plan, cut at ``seconds``."""
    beats = np.arange(0.0, seconds - 1e-6, plan.beat)
    downbeats = np.arange(0.0, seconds - 1e-6, plan.bar)
    key = names.key_name(plan.key, MODE_FAMILY[plan.mode])
    intervals, labels = [], []
    for start, dur, tones, root in plan.chords:
        if start >= seconds:
            break
        sec = plan.section_at(start + 1e-6)
        harmonic = sec.active["bass"] or sec.active["other"]
        quality = names.quality_of(tones, root)
        label = names.chord_label(root, quality) if harmonic and quality else "N"
        intervals.append((start, min(start + dur, seconds)))
        labels.append(names.to_mirex(label))
    return {"beats": beats, "downbeats": downbeats, "key": key,
            "intervals": np.array(intervals), "labels": labels}


def score(ref: dict, est, tempo_true: float) -> dict:
    """mir_eval scores of one estimate."""
    import mir_eval

    out = {}
    ratio = est.tempo_bpm / tempo_true if tempo_true else 0.0
    out["tempo"] = float(abs(ratio - 1) < 0.04)
    out["tempo2"] = float(any(abs(ratio - m) < 0.04 * m for m in (0.5, 1.0, 2.0)))
    out["meter"] = float(est.beats_per_bar == 4)
    out["beat_f"] = mir_eval.beat.f_measure(ref["beats"], np.array(est.beats))
    out["down_f"] = mir_eval.beat.f_measure(ref["downbeats"], np.array(est.downbeats))
    ref_key = ref["key"]
    out["key"] = float(est.key == ref_key)
    out["key_w"] = mir_eval.key.weighted_score(_mirex_key(ref_key), _mirex_key(est.key))
    est_iv = np.array([(c.start, c.end) for c in est.chords])
    est_lab = [names.to_mirex(c.label) for c in est.chords]
    ref_iv, ref_lab = ref["intervals"], ref["labels"]
    est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, ref_iv.min(),
                                                      ref_iv.max(), "N", "N")
    iv, r, e = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
    dur = mir_eval.util.intervals_to_durations(iv)
    mask = np.array([lab != "N" for lab in r])
    for name, fn in (("root", mir_eval.chord.root), ("majmin", mir_eval.chord.majmin),
                     ("sevenths", mir_eval.chord.sevenths)):
        comp = fn(r, e)
        ok = mask & (comp >= 0)
        out[name] = (float(np.sum(comp[ok] * dur[ok]) / np.sum(dur[ok]))
                     if dur[ok].sum() > 0 else np.nan)
    return out


def _mirex_key(key: str) -> str:
    tonic, mode = names.parse_key(key)
    return f"{names.SHARP_NAMES[tonic]} {mode}"


def _rss_mb() -> float:
    """The process's resident memory now (MB; Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_long(seconds: float) -> None:
    """Time and peak memory of analysing one long song (a 30-s song repeated).

    The warm-up (imports, compiled kernels, one block's buffers) runs before the song is built,
    so the process's high-water mark afterwards is the analysis's own: the figure is the peak
    RSS during :func:`analyze` over the RSS just before it (the song already in memory).
    """
    import resource

    stems, _ = render_song(song_rng(0, 0, "test"), 30.0, 44100)
    part = stems.sum(axis=0)
    del stems
    analyze(part[:, :44100 * 5], 44100)  # warm-up, before the song's memory is taken
    # filled in place: no temporary as large as the song raises the peak before the analysis
    mix = np.empty((part.shape[0], int(seconds * 44100)), dtype=np.float32)
    for a in range(0, mix.shape[1], part.shape[1]):
        n = min(part.shape[1], mix.shape[1] - a)
        mix[:, a:a + n] = part[:, :n]
    before = _rss_mb()
    t0 = time.perf_counter()
    est = analyze(mix, 44100)
    spent = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.0f} s stereo 44.1 kHz song ({mix.nbytes / 2**20:.0f} MB): analysed in "
          f"{spent:.1f} s ({seconds / spent:.0f}x real time); peak RSS {peak:.0f} MB, "
          f"{peak - before:+.0f} MB over the RSS before the call, "
          f"{peak - mix.nbytes / 2**20:.0f} MB without the song; {len(est.beats)} beats, "
          f"{len(est.chords)} chord spans", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"),
                        help="the synthesiser's split the songs come from (choices are made "
                             "on valid, figures reported on test)")
    parser.add_argument("--verbose", action="store_true", help="one line per song")
    parser.add_argument("--separated", action="store_true",
                        help="also analyse the stems the built-in model separates")
    parser.add_argument("--long", type=float, metavar="SECONDS",
                        help="instead: time and peak memory of one song this long")
    parser.add_argument("--memory", type=float, nargs="+", metavar="SECONDS",
                        help="instead: --long for each length, each in a fresh process (so "
                             "each peak is its own)")
    args = parser.parse_args()
    if args.long:
        bench_long(args.long)
        return
    if args.memory:
        import subprocess

        for seconds in args.memory:
            subprocess.run([sys.executable, __file__, "--long", str(seconds)], check=True)
        return
    conditions = ["mix", "stems"] + (["separated"] if args.separated else [])
    results: dict[str, list[dict]] = {c: [] for c in conditions}
    spent = dict.fromkeys(conditions, 0.0)
    separator = None
    if args.separated:
        from core.resources import builtin_model_path
        from core.separator import Separator

        separator = Separator(builtin_model_path(), "cpu", threads=2, precision="fp32")
    for i in range(args.songs):
        stems, plan = render_song(song_rng(args.seed, i, args.split), args.seconds,
                                   ANALYSIS_RATE)
        ref = truth(plan, args.seconds)
        mix = stems.sum(axis=0)
        for cond in conditions:
            t0 = time.perf_counter()
            if cond == "mix":
                est = analyze(mix, ANALYSIS_RATE)
            elif cond == "stems":
                est = analyze(mix, ANALYSIS_RATE, stems=dict(zip(
                    ("drums", "bass", "other", "vocals"), stems)))
            else:  # separation time is not counted in s/song
                sep = separator.separate(mix, ANALYSIS_RATE)
                t0 = time.perf_counter()
                est = analyze(mix, ANALYSIS_RATE, stems=dict(zip(separator.stems, sep)))
            spent[cond] += time.perf_counter() - t0
            s = score(ref, est, plan.tempo)
            results[cond].append(s)
            if args.verbose:
                print(f"song {i:2d} {cond:5s} tempo {plan.tempo:6.1f}->{est.tempo_bpm:6.1f} "
                      f"key {ref['key']:>9s}->{est.key:>9s} "
                      + " ".join(f"{k} {v:.2f}" for k, v in s.items()), flush=True)
    cols = ("tempo", "tempo2", "meter", "beat_f", "down_f", "key", "key_w", "root", "majmin",
            "sevenths")
    print(f"\n{args.songs} songs x {args.seconds:.0f} s, seed {args.seed}, {args.split} split")
    print("| input | " + " | ".join(cols) + " | s/song |")
    print("|---" * (len(cols) + 2) + "|")
    for cond, rows in results.items():
        means = [np.nanmean([r[c] for r in rows]) for c in cols]
        print(f"| {cond} | " + " | ".join(f"{m:.2f}" for m in means)
              + f" | {spent[cond] / args.songs:.1f} |")


if __name__ == "__main__":
    main()
