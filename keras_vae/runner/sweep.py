"""Sweeps: one run per latent size (and likelihood) of a zoo entry, each trained, evaluated and
sampled, compared in one Markdown report.

    OUT/z2-bernoulli/         an ordinary run folder (metrics.json, prior_samples.png, ...)
    OUT/sweep.json            one row per run
    OUT/report.md             the table and the sample grids side by side
"""

import itertools
import logging
import time
from datetime import datetime
from pathlib import Path

from keras_vae.core.errors import UserError
from keras_vae.core.quiet import muted
from keras_vae.runner import builder, evaluate, figures, runs, train

log = logging.getLogger(__name__)
REPORT, ROWS = "report.md", "sweep.json"


def default_out(entry, root="runs"):
    """The sweep's default folder: ROOT/sweeps/<entry>-<local time YYYYmmdd-HHMMSS>.

    Args:
        entry: the zoo entry swept.
        root: the runs folder.

    Returns:
        a Path (not created).
    """
    return Path(root) / "sweeps" / f"{entry}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def settings_grid(latent_dims, likelihoods):
    """[(folder name, settings)] for every combination; an empty list keeps the entry's value.

    Args:
        latent_dims: latent sizes (ints), or None / [] to keep the entry's.
        likelihoods: likelihood names ("bernoulli", "gaussian"), or None / [] to keep the entry's.

    Returns:
        list of (name, {"latent_dim": int, "likelihood": str}, each only when swept), e.g.
        ("z2-bernoulli", {...}); the name is "run" when nothing is swept.
    """
    grid = []
    for latent_dim, likelihood in itertools.product(latent_dims or [None], likelihoods or [None]):
        settings = {"latent_dim": latent_dim, "likelihood": likelihood}
        settings = {k: v for k, v in settings.items() if v is not None}
        name = "-".join([*([f"z{latent_dim}"] if latent_dim else []), *([likelihood] if likelihood else [])])
        grid.append((name or "run", settings))
    return grid


def check_out(out, overwrite):
    """OUT may be written: absent, empty, or replaced with `overwrite`.

    Args:
        out: the sweep folder, a Path.
        overwrite: whether a non-empty folder may be written into.

    Raises:
        UserError: `out` is a file, or a non-empty folder without `overwrite`.
    """
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace its runs and report")


def sweep(
    entry,
    latent_dims=None,
    likelihoods=None,
    overrides=None,
    out=None,
    seed=0,
    k=1000,
    limit=None,
    overwrite=False,
    verbose=0,
):
    """Train, evaluate and sample one run per setting; write the report. Returns its path.

    Every setting is checked (its model built) before any training. Each run is an ordinary run
    folder OUT/<name>; OUT/sweep.json holds one row per run and OUT/report.md the table.

    Args:
        entry: a zoo entry name.
        latent_dims: latent sizes to sweep, or None to keep the entry's.
        likelihoods: likelihoods to sweep, or None to keep the entry's.
        overrides: {setting: value} for every run, as `--set` takes them.
        out: the sweep folder; default `default_out(entry)`.
        seed: the random seed of every run, its evaluation and its samples.
        k: importance samples per example for the evaluated IWAE bound (`evaluate_run`).
        limit: keep the first N examples of each split, or None for all.
        overwrite: replace an existing sweep folder's runs and report.
        verbose: Keras's fit verbosity.

    Returns:
        the Path of OUT/report.md.

    Raises:
        UserError: `out` cannot be used (`check_out`), a bad entry or setting (ConfigError
            included), or a run's training or evaluation fails (e.g. a non-finite loss).
        keras_vae.runner.fit.Interrupted: Ctrl-C during a run's training.
    """
    out = Path(out or default_out(entry))
    check_out(out, overwrite)
    grid = [(name, {**(overrides or {}), **settings}) for name, settings in settings_grid(latent_dims, likelihoods)]
    for _, settings in grid:  # every setting is checked (and each model built once) before any training
        builder.build(entry, compile=False, **settings)
    rows = []
    # Every run builds a new model, hence new tf.functions: TF's retracing warning is expected.
    with muted("tensorflow", "triggered tf.function retracing"):
        for name, settings in grid:
            log.info("sweep %s: training %s", entry, name)
            started = time.perf_counter()
            model, run_dir = train.train(
                entry, settings, run_dir=out / name, seed=seed, overwrite=overwrite, verbose=verbose, limit=limit
            )
            trained = time.perf_counter()
            metrics = evaluate.evaluate_run(run_dir, k=k, limit=limit, seed=seed)
            evaluated = time.perf_counter()
            sampled = "prior_samples" in model.figures
            if sampled:
                figures.draw("prior_samples", model, run_dir, seed=seed)
            rows.append(
                {
                    "name": name,
                    **settings,
                    "train_seconds": round(trained - started, 1),
                    "eval_seconds": round(evaluated - trained, 1),
                    "sampled": sampled,
                    **metrics,
                }
            )
    runs.write_json(out / ROWS, rows)
    report = out / REPORT
    with runs.atomic(report) as tmp:
        tmp.write_text(markdown(entry, rows, model.report_columns))
    return report


def markdown(entry, rows, columns):
    """The report: what was run, the table, the sample grids side by side.

    Args:
        entry: the zoo entry swept.
        rows: one dict a run: its settings, timings, "sampled" and its metrics.json values.
        columns: the model's `report_columns`, between the settings and the timings.

    Returns:
        The Markdown text (str). Metrics are in nats per image (MSE per pixel), timings in seconds.

    Raises:
        IndexError: `rows` is empty.
    """
    first = rows[0]
    k = first.get("iwae_k")
    headers = [
        "run",
        "latent dim",
        "likelihood",
        *(column.header.format(k=k) for column in columns),
        "train s",
        "eval s",
    ]
    lines = [
        f"# Sweep of `{entry}` on {first['dataset']}",
        "",
        f"Each run trained with the same seed and settings apart from the swept ones; metrics on the "
        f"{first['split']} split ({first['split_examples']} images), in nats per image (MSE per pixel).",
        "",
        "| " + " | ".join(headers) + " |",
        "|---|---:|---|" + "---:|" * len(columns) + "---:|---:|",
    ]
    for row in rows:
        cells = [
            row["name"],
            row.get("latent_dim", "-"),
            row["likelihood"],
            *(column.cell(row) for column in columns),
            row["train_seconds"],
            row["eval_seconds"],
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += [""] + [
        f"- {name} likelihood, binarization {text}."
        for name, text in sorted({(r["likelihood"], r["binarization"]) for r in rows})
    ]
    if len({r["likelihood"] for r in rows}) > 1:
        lines += [
            "",
            "Log-likelihoods under different likelihoods are not comparable (a Bernoulli "
            "cross-entropy of grey levels is no density); compare their MSE and samples.",
        ]
    sampled = [r for r in rows if r["sampled"]]
    if sampled:
        lines += [
            "",
            "## Samples from the prior",
            "",
            "| " + " | ".join(r["name"] for r in sampled) + " |",
            "|" + "---|" * len(sampled),
            "| " + " | ".join(f"![{r['name']}]({r['name']}/prior_samples.png)" for r in sampled) + " |",
        ]
    return "\n".join(lines) + "\n"
