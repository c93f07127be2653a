"""report.py: the fidelity study's table and plot (called by run.sh).

usage: report.py RESULTS_DIR WORK_DIR RUN...

Each RUN is named repa-e-<mode>-s<seed> and has RESULTS_DIR/<RUN>.csv (`repae export --csv`).
Writes RESULTS_DIR/table.md (per mode: latent_sstd and latent_std at a few steps, mean and
min..max over seeds, plus eval.* from WORK_DIR/<RUN>.eval when present) and latent.png
(latent_sstd and latent_std over steps, the seed mean as a line and the min..max band).
"""
import csv
import math
import os
import re
import sys

results, work, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
STATS = ["latent_sstd", "latent_std", "diffusion", "align", "recon"]


def load(run):
    path = os.path.join(results, run + ".csv")
    if not os.path.exists(path):
        return None
    rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            rows[int(r["step"])] = {k: float(v) for k, v in r.items() if v not in ("", None) and k != "step"}
    return rows


by_mode = {}
for run in runs:
    m = re.match(r"repa-e-(\w+)-s(\d+)$", run)
    data = load(run)
    if not m or data is None:
        print(f"report: {run}: no results yet")
        continue
    by_mode.setdefault(m.group(1), []).append((int(m.group(2)), data))


def at(data, step, key):
    s = max((k for k in data if k <= step), default=None)
    return data[s].get(key) if s is not None else None


def spread(vals):
    vals = [v for v in vals if v is not None and not math.isnan(v)]
    if not vals:
        return "–"
    mean = sum(vals) / len(vals)
    return f"{mean:.3g} ({min(vals):.3g}..{max(vals):.3g})"


lines = ["| mode | seeds | step | " + " | ".join(STATS) + " |", "|---" * (3 + len(STATS)) + "|"]
for mode, seeds in sorted(by_mode.items()):
    last = min(max(d) for _, d in seeds)
    marks = sorted({s for s in (10, 100, 200, 400, last) if s <= last})
    for step in marks:
        cells = [spread([at(d, step, k) for _, d in seeds]) for k in STATS]
        lines.append(f"| {mode} | {len(seeds)} | {step} | " + " | ".join(cells) + " |")
evals = []
for run in runs:
    p = os.path.join(work, run + ".eval")
    if os.path.exists(p):
        evals.append(f"**{run}**: " + " ".join(open(p).read().split()))
table = "\n".join(lines) + ("\n\n" + "\n\n".join(evals) if evals else "") + "\n"
with open(os.path.join(results, "table.md"), "w") as f:
    f.write(table)
print(table)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("report: no matplotlib (apt install python3-matplotlib): no plot")
    sys.exit(0)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for key, ax in zip(["latent_sstd", "latent_std"], axes):
    for (mode, seeds), colour in zip(sorted(by_mode.items()), ["tab:red", "tab:blue", "tab:green"]):
        steps = sorted(set.intersection(*[set(d) for _, d in seeds]))
        vals = [[d[s].get(key, float("nan")) for _, d in seeds] for s in steps]
        ax.plot(steps, [sum(v) / len(v) for v in vals], color=colour, label=f"{mode} (mean of {len(seeds)})")
        ax.fill_between(steps, [min(v) for v in vals], [max(v) for v in vals], color=colour, alpha=0.2)
    ax.set_xlabel("step")
    ax.set_title(key)
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if by_mode:
        ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(results, "latent.png"), dpi=110)
print("report: wrote", os.path.join(results, "latent.png"))
