#!/usr/bin/python3
"""experiments/convergence/report.py: the cells and the report of the convergence study.

  report.py cell --arm A --seed 0 --step 500 --eval E.eval [--final F.eval] --csv RUN.csv --out CELL.json
      one cell from `repae eval` output (at EVAL_N; --final: the run's last step at FINAL_N) and
      the run's metrics (`repae export --csv`): training time to the step, s/step, latent_sstd.
  report.py report RESULTS [--cells DIR]
      from RESULTS/cells/*.json: table.md / table.csv (arm x seed x step), fd_steps.png, fd_wall.png
      and fd_flops.png (mean over seeds, band = min..max), speedup.md (steps, and seconds, for A and B
      to reach an FD level every arm reaches, over C's; log-interpolated; bootstrap over seeds),
      effects.md (FD mean +- sd over seeds, and the README's contrasts as paired differences),
      grids-sS.png (each seed's sample grids, arm x checkpoint).
  report.py precision DIR
      bf16 against fp32 (issue 15): DIR/cells (bf16) and DIR/fp32-cells (fp32) paired by seed, and
      the logged metrics DIR/curves/ARM-sS-{fp32,bf16}.csv by window of steps: DIR/precision.md,
      DIR/curves.png.

Only the standard library is needed for cells; plots need matplotlib (scripts/deps.sh study).
"""
import argparse
import hashlib
import csv
import glob
import json
import math
import os
import random
import re
import sys

ARMS = ["A", "B", "C", "Cb", "Dv", "Dr", "E"]
ARM_TEXT = {"A": "A vanilla, frozen VAE", "B": "B REPA, frozen VAE", "C": "C REPA-E (end to end, running BN)",
            "Cb": "C' REPA-E (end to end, batch BN)",
            "Dv": "Dv vanilla on C''s final VAE", "Dr": "Dr REPA on C''s final VAE", "E": "E naive end to end"}


# ---- one cell ------------------------------------------------------------------------------------

def parse_eval(path):
    """The numbers of one `repae eval` printout (cmd_eval.c's format)."""
    text = open(path).read()
    out = {}
    m = re.search(r"step (\d+): (\d+) samples and (\d+) reconstructions", text)
    if not m:
        sys.exit(f"report.py: {path}: not a `repae eval` printout (no 'step N: N samples' line)")
    out["step"], out["n"], out["nheld"] = int(m.group(1)), int(m.group(2)), int(m.group(3))
    for key in ("fd", "kid", "precision", "recall"):
        m = re.search(rf"^\s+{key}\s+(\S+)\s+(\S+)\s+(\S+)\s*$", text, re.M)
        if not m:
            sys.exit(f"report.py: {path}: no '{key}' row")
        out[key], out[key + "_floor"], out["r" + key] = (float(m.group(i)) for i in (1, 2, 3))
    m = re.search(r"is (\S+) \(\+- (\S+)\)\s+acc (\S+).*psnr (\S+) dB\s+latent_std (\S+)\s+\[(\d+) s\]", text)
    if not m:
        sys.exit(f"report.py: {path}: no 'is ... psnr ... latent_std' line")
    out["is"], out["is_std"] = float(m.group(1)), float(m.group(2))
    out["acc"] = float(m.group(3)) if m.group(3) != "n/a" else None
    out["psnr"], out["latent_std"], out["eval_seconds"] = float(m.group(4)), float(m.group(5)), int(m.group(6))
    return out


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def train_time(rows, step):
    """Seconds of training to `step`, summed from each logged interval's images/s (so pauses
    between a stop and a resume do not count), the s/step over that span, and the last logged
    latent_sstd at or before the step."""
    secs, prev, sstd = 0.0, 0, None
    for r in rows:
        s = int(r["step"])
        if s > step:
            break
        ips = float(r["img_per_s"]) if r.get("img_per_s") else 0.0
        if ips > 0:
            secs += (s - prev) * BATCH / ips
        if r.get("latent_sstd"):
            sstd = float(r["latent_sstd"])
        prev = s
    return secs, (secs / step if step else None), sstd


BATCH = 32  # the study size's train.batch_size (experiments/study.sh)

# GFLOP of one training step at the study size (`repae bench`'s model count, README.md
# "Timings"): the SiT-only arms are a third of an end-to-end step.
GFLOP = {"A": 7.152, "B": 7.152, "Dv": 7.152, "Dr": 7.152, "C": 19.024, "Cb": 19.024, "E": 18.538}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def cmd_cell(a):
    ev = parse_eval(a.eval)
    if ev["step"] != a.step:
        sys.exit(f"report.py: {a.eval} is of step {ev['step']}, not {a.step}")
    rows = read_csv(a.csv)
    secs, sps, sstd = train_time(rows, a.step)
    cell = {"arm": a.arm, "seed": a.seed, "step": a.step, **{k: v for k, v in ev.items() if k != "step"},
            "train_seconds": round(secs, 1), "s_per_step": sps, "latent_sstd": sstd}
    # The networks the cell was measured with and the VAE it started from (sha256): cells
    # measured with another evaluator are not comparable (load_cells checks).
    nets = {}
    for kv in a.net or []:
        k, _, path = kv.partition("=")
        nets[k] = sha256(path)
    if nets:
        cell["networks"] = nets
    if a.final:
        fin = parse_eval(a.final)
        cell["final"] = {k: v for k, v in fin.items() if k != "step"}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cell, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, a.out)


# ---- the report ----------------------------------------------------------------------------------

def load_cells(d):
    cells = []
    for p in sorted(glob.glob(os.path.join(d, "*.json"))):
        with open(p) as f:
            c = json.load(f)
            c["_file"] = os.path.basename(p)
            cells.append(c)
    # One evaluator for every cell, or the FDs are not on one scale. Cells from before the
    # hashes were recorded count as the first evaluator (README.md, "Networks").
    evs = {c.get("networks", {}).get("evaluator") for c in cells} - {None}
    if len(evs) > 1:
        by = {}
        for c in cells:
            by.setdefault(c.get("networks", {}).get("evaluator", "unrecorded"), []).append(c["_file"])
        msg = "; ".join(f"{k[:12]}: {len(v)} cells ({', '.join(v[:3])}...)" for k, v in by.items())
        sys.exit(f"report.py: cells in {d} were measured with {len(evs)} different evaluators ({msg}): "
                 "re-evaluate them with one network")
    return cells


def fmt(v, nd=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{nd}f}"


def write_table(cells, res):
    key = lambda c: (ARMS.index(c["arm"]) if c["arm"] in ARMS else 99, c["seed"], c["step"])
    cells = sorted(cells, key=key)
    cols = ["arm", "seed", "step", "n", "fd", "kid", "is", "precision", "recall", "rfd", "psnr", "latent_std",
            "latent_sstd", "train_seconds", "fd_floor"]
    with open(os.path.join(res, "table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["final_n", "final_fd", "final_kid", "final_is", "final_precision", "final_recall"])
        for c in cells:
            fin = c.get("final") or {}
            w.writerow([c.get(k) for k in cols] + [fin.get(k) for k in ("n", "fd", "kid", "is", "precision", "recall")])
    lines = ["| arm | seed | step | n | FD ↓ | KID ↓ | IS ↑ | precision | recall | rFD ↓ | PSNR dB | latent_std | "
             "latent_sstd | train s | FD floor |", "|" + "---|" * 15]
    for c in cells:
        lines.append("| " + " | ".join([c["arm"], str(c["seed"]), str(c["step"]), str(c["n"]), fmt(c["fd"]),
                                        fmt(c["kid"], 5), fmt(c["is"]), fmt(c["precision"]), fmt(c["recall"]),
                                        fmt(c["rfd"]), fmt(c["psnr"], 2), fmt(c["latent_std"]),
                                        fmt(c.get("latent_sstd")), fmt(c.get("train_seconds"), 0),
                                        fmt(c["fd_floor"])]) + " |")
    finals = [c for c in cells if c.get("final")]
    if finals:
        lines += ["", "Finals (the last step of each run) at the larger N:", "",
                  "| arm | seed | step | n | FD ↓ | KID ↓ | IS ↑ | precision | recall | FD floor |", "|" + "---|" * 10]
        for c in finals:
            f = c["final"]
            lines.append("| " + " | ".join([c["arm"], str(c["seed"]), str(c["step"]), str(f["n"]), fmt(f["fd"]),
                                            fmt(f["kid"], 5), fmt(f["is"]), fmt(f["precision"]),
                                            fmt(f["recall"]), fmt(f["fd_floor"])]) + " |")
    with open(os.path.join(res, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def curves(cells, xkey="step"):
    """{arm: {seed: [(x, fd), ...] by step}}"""
    out = {}
    for c in cells:
        x = {"step": c["step"], "wall": c.get("train_seconds"),
             "flops": c["step"] * GFLOP.get(c["arm"], float("nan"))}[xkey]
        if x is None or not x > 0:
            continue
        out.setdefault(c["arm"], {}).setdefault(c["seed"], []).append((c["step"], x, c["fd"]))
    for arm in out:
        for s in out[arm]:
            out[arm][s].sort()
    return out


def mean_curve(per_seed, seeds):
    """Mean FD (and x) over seeds at the steps every one of them has."""
    steps = None
    for s in seeds:
        st = {p[0] for p in per_seed[s]}
        steps = st if steps is None else steps & st
    pts = []
    for step in sorted(steps or []):
        xs = [next(p[1] for p in per_seed[s] if p[0] == step) for s in seeds]
        fds = [next(p[2] for p in per_seed[s] if p[0] == step) for s in seeds]
        pts.append((sum(xs) / len(xs), sum(fds) / len(fds)))
    return pts


def reach(pts, level):
    """x at which the curve first reaches FD <= level, interpolated in log(x); None if never."""
    if not pts:
        return None
    if pts[0][1] <= level:
        return pts[0][0]
    for (x0, f0), (x1, f1) in zip(pts, pts[1:]):
        if f1 <= level < f0:
            t = (f0 - level) / (f0 - f1)
            return math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
    return None


def speedup(cv, arms, seeds, ref="C"):
    """The FD level every arm reaches (the worst arm's best mean FD), the x each arm needs for it,
    and x(arm) / x(ref)."""
    means = {a: mean_curve(cv[a], seeds) for a in arms}
    if any(not means[a] for a in arms):
        return None
    level = max(min(f for _, f in means[a]) for a in arms)
    xs = {a: reach(means[a], level) for a in arms}
    ratios = {a: xs[a] / xs[ref] for a in arms if a != ref and xs[a] and xs[ref]}
    return level, xs, ratios


def bootstrap(cv, arms, seeds, ref="C", n=2000, rng=None):
    rng = rng or random.Random(12)
    got = {a: [] for a in arms if a != ref}
    for _ in range(n):
        pick = [rng.choice(seeds) for _ in seeds]
        # resampling with replacement: the same seed may come twice (keys must stay distinct)
        sub = {a: {i: cv[a][s] for i, s in enumerate(pick)} for a in arms}
        r = speedup(sub, arms, list(range(len(pick))), ref)
        if not r:
            continue
        for a, v in r[2].items():
            got[a].append(v)
    out = {}
    for a, v in got.items():
        v.sort()
        out[a] = (v[int(0.025 * (len(v) - 1))], v[int(0.975 * (len(v) - 1))]) if v else None
    return out


def speedup_text(cells):
    lines = []
    for ref in ("C", "Cb"):
        if ref == "Cb" and not any(c["arm"] == "Cb" for c in cells):
            continue
        lines.append(f"### Against {ARM_TEXT[ref]}")
        lines.append("")
        lines += speedup_lines(cells, ref)
        lines += along_lines(cells, ref)
    return "\n".join(lines)


def speedup_lines(cells, ref):
    lines = []
    for xkey, unit in (("step", "SiT steps"), ("wall", "training seconds"), ("flops", "training GFLOP")):
        cv = curves(cells, xkey)
        arms = [a for a in ("A", "B", ref) if a in cv]
        if ref not in arms or len(arms) < 2:
            lines.append(f"Speed-up in {unit}: needs arm {ref} and A or B (have {', '.join(sorted(cv)) or 'none'}).")
            continue
        seeds = sorted(set.intersection(*(set(cv[a]) for a in arms)))
        if not seeds:
            lines.append(f"Speed-up in {unit}: no seed with all of {', '.join(arms)}.")
            continue
        r = speedup(cv, arms, seeds, ref)
        if not r:
            lines.append(f"Speed-up in {unit}: no common steps.")
            continue
        level, xs, ratios = r
        ci = bootstrap(cv, arms, seeds, ref) if len(seeds) > 1 else {}
        lines.append(f"Speed-up in {unit} (seeds {', '.join(map(str, seeds))}; FD level {level:.3f}, the worst "
                     f"arm's best mean FD):")
        lines.append("")
        lines.append(f"| arm | {unit} to FD {level:.3f} | ratio to {ref} | 95% bootstrap over seeds |")
        lines.append("|---|---|---|---|")
        for a in arms:
            x = xs[a]
            rt = ratios.get(a)
            c = ci.get(a)
            lines.append(f"| {a} | {fmt(x, 0) if x else 'not reached'} | {fmt(rt, 2) if rt else '—'} | "
                         f"{(fmt(c[0], 2) + '–' + fmt(c[1], 2)) if c else ('— (one seed)' if a != ref else '')} |")
        lines.append("")
    return lines


def along_lines(cells, ref):
    """At each of ref's checkpoints: the SiT steps A and B need to reach ref's seed-mean FD there,
    over ref's steps (below 1: ref is slower; above: ref is faster, as the paper reports)."""
    cv = curves(cells, "step")
    arms = [a for a in ("A", "B") if a in cv]
    if ref not in cv or not arms:
        return []
    seeds = sorted(set.intersection(*(set(cv[a]) for a in arms + [ref])))
    if not seeds:
        return []
    m = {a: mean_curve(cv[a], seeds) for a in arms + [ref]}
    lines = [f"Along the way (seeds {', '.join(map(str, seeds))}): the SiT steps A and B need to reach {ref}'s "
             f"mean FD at each of its checkpoints, as a ratio to {ref}'s steps (< 1: {ref} is slower; a value "
             "at the first checkpoint is a bound):", "",
             f"| {ref} step | {ref} FD | " + " | ".join(f"{a} steps (ratio)" for a in arms) + " |",
             "|---|---|" + "---|" * len(arms)]
    for st, fd in m[ref]:
        row = []
        for a in arms:
            x = reach(m[a], fd)
            row.append(f"{x:.0f} ({x / st:.2f})" if x else "not reached")
        lines.append(f"| {st:.0f} | {fd:.2f} | " + " | ".join(row) + " |")
    lines.append("")
    return lines


# The contrasts the README reads, each paired by seed (same stage-1 VAE, data order and sampling
# noise): (name, arm, baseline arm).
CONTRASTS = [("REPA over vanilla", "B", "A"), ("REPA-E (running BN) over vanilla", "C", "A"),
             ("REPA-E (running BN) over REPA", "C", "B"), ("REPA-E (batch BN) over REPA", "Cb", "B"),
             ("REPA-E (batch BN) over vanilla", "Cb", "A"),
             ("batch BN over running BN (C' - C)", "Cb", "C"),
             ("drop-in, vanilla: Dv over A", "Dv", "A"), ("drop-in, REPA: Dr over B", "Dr", "B"),
             ("naive end to end over vanilla: E - A", "E", "A")]


def mean_sd(v):
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float("nan")
    return m, sd


def effects_text(cells):
    """FD mean +- sd over seeds per arm and step, and each contrast's paired FD difference
    (arm - baseline, negative = the arm is better) at every step both have, per seed and as
    mean +- sd, with how many seeds agree in sign."""
    fd = {}  # (arm, step) -> {seed: fd}; ("final", arm) -> {seed: final fd}
    last = {}  # arm -> the step of its finals
    for c in cells:
        fd.setdefault((c["arm"], c["step"]), {})[c["seed"]] = c["fd"]
        if c.get("final"):
            fd.setdefault(("final", c["arm"]), {})[c["seed"]] = c["final"]["fd"]
            last[c["arm"]] = c["step"]
    steps = sorted({c["step"] for c in cells})
    arms = [a for a in ARMS if any(c["arm"] == a for c in cells)]
    lines = ["FD over seeds (mean ± sd, number of seeds), at the cells' N:", "",
             "| arm | " + " | ".join(str(s) for s in steps) + " | final (N 5000) |", "|" + "---|" * (len(steps) + 2)]
    for a in arms:
        row = []
        for key in [(a, s) for s in steps] + [("final", a)]:
            v = list(fd.get(key, {}).values())
            if not v:
                row.append("")
                continue
            m, sd = mean_sd(v)
            row.append(f"{m:.2f} ± {sd:.2f} ({len(v)})" if len(v) > 1 else f"{m:.2f} (1)")
        lines.append(f"| {ARM_TEXT.get(a, a)} | " + " | ".join(row) + " |")
    lines += ["", "Paired differences, FD(arm) - FD(baseline) of the same seed (negative: the arm is better); "
              "per seed, mean ± sd, and the seeds whose sign agrees with the mean:", "",
              "| contrast | step | per seed | mean ± sd | agree |", "|---|---|---|---|---|"]
    for name, a, b in CONTRASTS:
        for key_a, key_b, label in [((a, s), (b, s), str(s)) for s in steps] + [(("final", a), ("final", b), "final N 5000")]:
            if key_a[0] == "final" and last.get(a) != last.get(b):
                continue  # finals at different steps (E is short): not a pair
            fa, fb = fd.get(key_a, {}), fd.get(key_b, {})
            seeds = sorted(set(fa) & set(fb))
            if not seeds:
                continue
            d = [fa[s] - fb[s] for s in seeds]
            m, sd = mean_sd(d)
            agree = sum(1 for x in d if (x < 0) == (m < 0))
            per = ", ".join(f"s{s} {x:+.2f}" for s, x in zip(seeds, d))
            lines.append(f"| {name} | {label} | {per} | {m:+.2f}" + (f" ± {sd:.2f}" if len(d) > 1 else "") +
                         f" | {agree} of {len(d)} |")
    return "\n".join(lines)


def plot(cells, res):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plots skipped: no matplotlib (scripts/deps.sh study)"
    for xkey, name, label in (("step", "fd_steps.png", "SiT steps"), ("wall", "fd_wall.png", "training seconds"),
                              ("flops", "fd_flops.png", "training GFLOP")):
        cv = curves(cells, xkey)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for arm in [a for a in ARMS if a in cv]:
            by_step = {}
            for s, pts in cv[arm].items():
                for step, x, fd in pts:
                    by_step.setdefault(step, []).append((x, fd))
            steps = sorted(by_step)
            x = [sum(p[0] for p in by_step[s]) / len(by_step[s]) for s in steps]
            fd = [[p[1] for p in by_step[s]] for s in steps]
            mean = [sum(v) / len(v) for v in fd]
            line, = ax.plot(x, mean, marker="o", label=f"{ARM_TEXT.get(arm, arm)} ({len(cv[arm])} seeds)")
            ax.fill_between(x, [min(v) for v in fd], [max(v) for v in fd], color=line.get_color(), alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("FD (evaluator features) ↓")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("FD vs " + label + " (mean over seeds, band min–max)")
        fig.tight_layout()
        fig.savefig(os.path.join(res, name), dpi=110)
        plt.close(fig)
    return "plots: fd_steps.png, fd_wall.png, fd_flops.png"


def montage(cells, res):
    """grids-sS.png: the sample grids of one seed, an arm per row and a checkpoint per column (the
    same noise and labels in every tile: common random numbers)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.image as mpimg
    except ImportError:
        return "montages skipped: no matplotlib (scripts/deps.sh study)"
    gdir = os.path.join(res, "grids")
    steps = sorted({c["step"] for c in cells})
    made = []
    for seed in sorted({c["seed"] for c in cells}):
        arms = [a for a in ARMS if any(c["arm"] == a and c["seed"] == seed for c in cells)]
        if not arms or not steps:
            continue
        fig, axes = plt.subplots(len(arms), len(steps), figsize=(1.5 * len(steps) + 1.4, 1.5 * len(arms) + 0.4),
                                 squeeze=False)
        for i, arm in enumerate(arms):
            for j, step in enumerate(steps):
                ax = axes[i][j]
                ax.set_xticks([])
                ax.set_yticks([])
                for sp in ax.spines.values():
                    sp.set_visible(False)
                path = os.path.join(gdir, f"{arm}-s{seed}-{step}.png")
                if os.path.exists(path):
                    ax.imshow(mpimg.imread(path), interpolation="nearest")
                if i == 0:
                    ax.set_title(f"step {step}", fontsize=8)
                if j == 0:
                    ax.set_ylabel(ARM_TEXT.get(arm, arm).split(" ")[0], fontsize=9, rotation=0, labelpad=14)
        fig.suptitle(f"samples, seed {seed} (EMA, 50 Euler steps, the same noise and labels in every tile)",
                     fontsize=8)
        fig.tight_layout()
        name = f"grids-s{seed}.png"
        fig.savefig(os.path.join(res, name), dpi=110)
        plt.close(fig)
        made.append(name)
    return "montages: " + ", ".join(made) if made else "montages: no grids"


def cmd_report(a):
    res = a.results
    cells = load_cells(a.cells or os.path.join(res, "cells"))
    if not cells:
        print(f"report.py: no cells in {a.cells or os.path.join(res, 'cells')} yet")
        return
    print(write_table(cells, res))
    sp = speedup_text(cells)
    with open(os.path.join(res, "speedup.md"), "w") as f:
        f.write(sp + "\n")
    ef = effects_text(cells)
    with open(os.path.join(res, "effects.md"), "w") as f:
        f.write(ef + "\n")
    print()
    print(sp)
    print()
    print(ef)
    print(plot(cells, res))
    print(montage(cells, res))


# ---- bf16 against fp32 (issue 15) -------------------------------------------------------------

CURVE_KEYS = ["total", "recon", "kl", "diffusion", "align", "smooth", "latent_std", "grad_norm_vae", "grad_norm_sit"]
WINDOWS = [(1, 250), (251, 500), (501, 1000), (1001, 2000)]


def window_means(rows, key):
    out = []
    for lo, hi in WINDOWS:
        v = [float(r[key]) for r in rows if r.get(key) not in (None, "") and lo <= int(r["step"]) <= hi]
        out.append(sum(v) / len(v) if v else float("nan"))
    return out


def cmd_precision(a):
    """DIR/cells (bf16) against DIR/fp32-cells (fp32, the same arm, seeds, steps, binary and threads),
    and the loss curves DIR/curves/ARM-sS-{fp32,bf16}.csv: DIR/precision.md and DIR/curves.png."""
    d = a.dir
    b16, f32 = load_cells(os.path.join(d, "cells")), load_cells(os.path.join(d, "fp32-cells"))
    key = lambda c: (c["arm"], c["seed"], c["step"])
    fb = {key(c): c for c in b16}
    ff = {key(c): c for c in f32}
    both = sorted(set(fb) & set(ff))
    if not both:
        sys.exit(f"report.py: no (arm, seed, step) in both {d}/cells and {d}/fp32-cells")
    seeds = sorted({k[1] for k in both})
    steps = sorted({k[2] for k in both})
    arm = both[0][0]
    lines = [f"# bf16 against fp32: arm {arm}, seeds {', '.join(map(str, seeds))}", "",
             "FD at n 2000 (the last step also at n 5000), per seed, and bf16 - fp32 paired by seed against "
             "the fp32 seed spread (sd over seeds):", "",
             "| step | fp32 per seed | bf16 per seed | fp32 mean ± sd | bf16 mean ± sd | bf16 - fp32 (mean ± sd) |",
             "|---|---|---|---|---|---|"]

    def row(label, get):
        x = [get(ff[(arm, s, st)]) for s in seeds]
        y = [get(fb[(arm, s, st)]) for s in seeds]
        dlt = [b - f for b, f in zip(y, x)]
        mf, sf = mean_sd(x)
        mb, sb = mean_sd(y)
        md, sdd = mean_sd(dlt)
        g = lambda v, sign="": f"{v:{sign}.2f}" if abs(v) >= 1 else f"{v:{sign}.3g}"
        pm = lambda m, sd, sign="": f"{g(m, sign)} ± {g(sd)}" if len(seeds) > 1 else g(m, sign)
        lines.append(f"| {label} | {', '.join(g(v) for v in x)} | {', '.join(g(v) for v in y)} | "
                     f"{pm(mf, sf)} | {pm(mb, sb)} | {pm(md, sdd, '+')} |")

    for st in steps:
        if all((arm, s, st) in fb and (arm, s, st) in ff for s in seeds):
            row(str(st), lambda c: c["fd"])
    last = steps[-1]
    if all(ff[(arm, s, last)].get("final") and fb[(arm, s, last)].get("final") for s in seeds):
        for m in ("fd", "kid", "precision", "recall"):
            row(f"{last}, n 5000: {m}", lambda c, m=m: c["final"][m])
        for m in ("rfd", "psnr", "latent_std"):
            row(f"{last}: {m}", lambda c, m=m: c[m])
    # loss curves
    cdir = os.path.join(d, "curves")
    curves_ = {}
    for s in seeds:
        for prec in ("fp32", "bf16"):
            pth = os.path.join(cdir, f"{arm}-s{s}-{prec}.csv")
            if os.path.exists(pth):
                curves_[(s, prec)] = read_csv(pth)
    cs = [s for s in seeds if (s, "fp32") in curves_ and (s, "bf16") in curves_]
    if cs:
        lines += ["", "Logged metrics (every 10 steps), mean over each window of steps; fp32's seed sd beside "
                  "bf16 - fp32 paired by seed (mean over seeds):", "",
                  "| metric | steps | fp32 mean | bf16 mean | bf16 - fp32 | fp32 sd over seeds |", "|---|---|---|---|---|---|"]
        for k in CURVE_KEYS:
            if k not in curves_[(cs[0], "fp32")][0]:
                continue
            wf = [window_means(curves_[(s, "fp32")], k) for s in cs]
            wb = [window_means(curves_[(s, "bf16")], k) for s in cs]
            for i, (lo, hi) in enumerate(WINDOWS):
                x = [w[i] for w in wf]
                y = [w[i] for w in wb]
                mf, sf = mean_sd(x)
                mb, _ = mean_sd(y)
                md, _ = mean_sd([b - f for b, f in zip(y, x)])
                lines.append(f"| {k} | {lo}-{hi} | {mf:.5g} | {mb:.5g} | {md:+.3g} | {sf:.3g} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "precision.md"), "w") as f:
        f.write(text)
    print(text)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot skipped: no matplotlib")
        return
    keys = [k for k in ("total", "diffusion", "recon", "align", "smooth", "latent_std") if cs and k in curves_[(cs[0], "fp32")][0]]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    for ax, k in zip(axes.flat, keys):
        for s in cs:
            for prec, ls in (("fp32", "-"), ("bf16", "--")):
                rows = curves_[(s, prec)]
                xs = [int(r["step"]) for r in rows if r.get(k) not in (None, "")]
                ys = [float(r[k]) for r in rows if r.get(k) not in (None, "")]
                # a running mean of 10 points (100 steps): the per-10-step values are noisy
                sm = [sum(ys[max(0, i - 9):i + 1]) / len(ys[max(0, i - 9):i + 1]) for i in range(len(ys))]
                ax.plot(xs, sm, ls, lw=1, color=f"C{s}", label=f"s{s} {prec}")
        ax.set_title(k, fontsize=9)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"arm {arm}: fp32 (solid) and bf16 (dashed), running mean over 100 steps", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "curves.png"), dpi=100)
    plt.close(fig)
    print("plot: curves.png")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cell")
    c.add_argument("--arm", required=True)
    c.add_argument("--seed", type=int, required=True)
    c.add_argument("--step", type=int, required=True)
    c.add_argument("--eval", required=True)
    c.add_argument("--final")
    c.add_argument("--csv", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--net", action="append", metavar="NAME=PATH", help="a network to record by sha256")
    r = sub.add_parser("report")
    r.add_argument("results")
    r.add_argument("--cells")
    q = sub.add_parser("precision")
    q.add_argument("dir")
    a = p.parse_args()
    if a.cmd == "cell":
        cmd_cell(a)
    elif a.cmd == "precision":
        cmd_precision(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
