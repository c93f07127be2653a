"""report.py: the ablation study's table and plots from the run store (called by run.sh).

usage: report.py REPAE DB RESULTS_DIR RECIPE...

Writes RESULTS_DIR/table.md and table.csv (one row per recipe: status, steps, wall time, the
eval.* metrics of `repae eval` and the last training losses), curves.png (training curves of
every recipe, one panel per metric), samples.png (the final sample grid of every recipe side by
side) and samples/<recipe>.png (that grid alone). Reads RESULTS_DIR/<recipe>.csv (`repae export
--csv`) and the grids exported into DB's folder under samples/<recipe>/.
"""
import csv
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

repae, db, out = sys.argv[1], sys.argv[2], sys.argv[3]
recipes = sys.argv[4:]
work = os.path.dirname(db)

runs = json.loads(subprocess.run([repae, "--db", db, "runs", "--json"], check=True,
                                 capture_output=True, text=True).stdout)
by_name = {r["name"]: r for r in runs}


def metric(run, key, field="last"):
    m = run.get("metrics", {}).get(key)
    return m.get(field) if m else None


def read_csv(name):
    path = os.path.join(out, name + ".csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return rows


def fmt(v, nd=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000 or (abs(v) < 1e-3 and v != 0):
        return f"{v:.3g}"
    return f"{v:.{nd}f}"


# ---- table -------------------------------------------------------------------------------------
cols = [("recipe", None), ("status", None), ("steps", None), ("wall min", None),
        ("fd ↓", "eval.fd"), ("is ↑", "eval.is"), ("acc ↑", "eval.acc"), ("psnr dB ↑", "eval.psnr"),
        ("rfd ↓", "eval.rfd"), ("latent_std (eval)", "eval.latent_std"), ("latent_std (train)", "latent_std"),
        ("recon", "recon"), ("diffusion", "diffusion"), ("align", "align")]
rows = []
for r in recipes:
    run = by_name.get(r)
    if not run:
        rows.append([r, "not run"] + [None] * (len(cols) - 2))
        continue
    row = [r, run["status"], f'{run["step"]}/{run["total_steps"]}', run["elapsed"] / 60]
    for _, key in cols[4:]:
        row.append(metric(run, key))
    rows.append(row)

with open(os.path.join(out, "table.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([c for c, _ in cols])
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
with open(os.path.join(out, "table.md"), "w") as f:
    f.write("| " + " | ".join(c for c, _ in cols) + " |\n")
    f.write("|" + "---|" * len(cols) + "\n")
    for row in rows:
        f.write("| " + " | ".join(fmt(v, 1 if i == 3 else 3) if not isinstance(v, str) else v
                                  for i, v in enumerate(row)) + " |\n")
print(open(os.path.join(out, "table.md")).read())

# ---- curves ------------------------------------------------------------------------------------
panels = ["recon", "kl", "diffusion", "align", "latent_std", "grad_norm_vae"]
# One colour and style per recipe in every panel (the seed family dashed).
style = {r: dict(color=f"C{i % 10}", linestyle="--" if r in ("seed", "no-smooth", "no-kl") else "-")
         for i, r in enumerate(recipes)}
fig, axes = plt.subplots(2, 3, figsize=(15, 8))
for ax, key in zip(axes.flat, panels):
    for r in recipes:
        data = read_csv(r)
        if not data or key not in data[0]:
            continue
        xs, ys = [], []
        for d in data:
            v = d.get(key, "")
            if v not in ("", "nan"):
                xs.append(int(d["step"]))
                ys.append(float(v))
        if not ys or all(y == 0 for y in ys):  # e.g. align of a recipe without alignment
            continue
        k = 5  # running mean over 5 logged points (50 steps)
        sm = [sum(ys[max(0, i - k + 1):i + 1]) / len(ys[max(0, i - k + 1):i + 1]) for i in range(len(ys))]
        ax.plot(xs, sm, label=r, linewidth=1.2, **style[r])
    ax.set_title(key)
    ax.set_xlabel("step")
    if key in ("kl", "grad_norm_vae", "diffusion"):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
handles = [plt.Line2D([], [], linewidth=1.2, **style[r]) for r in recipes]
axes.flat[0].legend(handles, recipes, fontsize=8)
fig.suptitle("training curves (running mean of 5 logged points = 50 steps); the seed family (dashed) "
             "uses mse recon and score prediction, so its recon and diffusion are on other scales")
fig.tight_layout()
fig.savefig(os.path.join(out, "curves.png"), dpi=80)
plt.close(fig)

# ---- samples -----------------------------------------------------------------------------------
os.makedirs(os.path.join(out, "samples"), exist_ok=True)
grids = []
for r in recipes:
    if r == "two-stage-vae":  # its SiT never trains: two-stage samples it
        continue
    files = sorted(glob.glob(os.path.join(work, "samples", r, "step_*.png")))
    if files:
        dst = os.path.join(out, "samples", r + ".png")
        shutil.copyfile(files[-1], dst)
        grids.append((r, dst))
if grids:
    n = len(grids)
    ncol = min(n, 5)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3 * ncol, 3.3 * nrow), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (r, p) in zip(axes.flat, grids):
        ax.imshow(mpimg.imread(p), cmap="gray", interpolation="nearest")
        ax.set_title(r, fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "samples.png"), dpi=80)
    plt.close(fig)
