"""``popkin predict DATA --model MODEL --params PARAMS.json --out pred.csv``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from popkin.errors import ModelError, PopkinError


def _read_params(path: Path) -> dict:
    try:
        params = json.loads(path.read_text())
    except json.JSONDecodeError as why:
        raise ModelError(f"{path} is not valid JSON (line {why.lineno}, column {why.colno}: {why.msg}); "
                         'write e.g. {"CL": 1.1, "V": 20, "KA": 1.5, "F2": "BIOAV"}') from None
    except OSError as why:
        raise ModelError(f"cannot read {path}: {why.strerror or why}") from None
    if not isinstance(params, dict):
        raise ModelError(f"{path} must hold a JSON object mapping parameter names to numbers or column "
                         'names, e.g. {"CL": 1.1, "V": 20, "F2": "BIOAV"}')
    return params


def _input_rows(path: Path, predicted):
    """The rows of the file as written (text cells) with the predicted columns."""
    from popkin.data.source import load

    raw, _ = load(path)
    out = raw.cells.copy()
    for col in ("PRED", "IPRED"):
        if col in predicted.columns:
            by_row = predicted.set_index("ROW")[col]
            out[col] = pd.Series(raw.rows).map(by_row).to_numpy(dtype=float)
    return out


@click.command("predict")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_name", required=True, metavar="MODEL",
              help="Built-in model name (1cmt-oral, 1cmt-iv, 2cmt-oral, 2cmt-iv, ...) "
                   "or a Python file defining `model`.")
@click.option("--params", "params_path", required=True, metavar="PARAMS.json",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON object: parameter -> number or data column, e.g. {"CL": 1.1, "F2": "BIOAV"}.')
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="New CSV file: the data rows plus PRED (and IPRED).")
@click.option("--force", is_flag=True, help="Replace --out if it exists (atomically).")
def predict(data, model_name, params_path, out, force):
    """Model predictions for every record of the NONMEM-style dataset DATA at fixed
    parameters. Parameter names are NONMEM's (CL, V, KA, Q, V2, F1, ALAG2, R2, D2,
    S2, ...); columns named like model parameters give the individual prediction
    IPRED. Computes in float64."""
    import jax

    jax.config.update("jax_enable_x64", True)  # the command owns its process
    from popkin.pk.predict import predict_frame, write_csv

    try:
        if out.exists() and not force:
            raise PopkinError(f"{out} already exists; popkin does not overwrite results. "
                              "Choose another --out or pass --force to replace it.")
        params = _read_params(params_path)
        frame = _input_rows(data, predict_frame(data, model_name, params))
        write_csv(frame, out, force=force)
    except PopkinError as why:
        click.echo(f"error: {why}", err=True)
        raise SystemExit(2) from None
    cols = [c for c in ("PRED", "IPRED") if c in frame.columns]
    click.echo(f"wrote {len(frame)} rows with {' and '.join(cols)} to {out}")
