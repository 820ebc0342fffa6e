"""``popkin fit DATA --model MODEL_FILE --method nuts --out DIR``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from popkin.errors import PopkinError


def _host_devices(chains: int) -> None:
    """One CPU device per chain, so chains run in parallel. It takes effect only if JAX
    has not started its backend yet (true when ``popkin fit`` runs as a command)."""
    import numpyro

    numpyro.set_host_device_count(max(1, min(chains, os.cpu_count() or 1)))


def _parameterization(ctx, param, value):
    from popkin.infer.centring import parse_parameterization

    try:
        return parse_parameterization(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _dense_mass(ctx, param, value):
    from popkin.infer.nuts import parse_dense_mass

    try:
        return parse_dense_mass(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@click.command("fit")
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "model_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="model file defining `model` (e.g. models/theoph.py)")
@click.option("--method", type=click.Choice(["nuts", "map", "laplace"]), default="nuts", show_default=True)
@click.option("--out", required=True, type=click.Path(), help="NEW folder for the outputs")
@click.option("--chains", type=int, default=4, show_default=True)
@click.option("--warmup", type=int, default=500, show_default=True)
@click.option("--draws", type=int, default=500, show_default=True)
@click.option("--target-accept", type=float, default=0.9, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--parameterization", default="noncentered", show_default=True, callback=_parameterization,
              help="NUTS coordinates: noncentered, centered (suits data that pin every subject: rich sampling, a "
              "PD response), or the parameters to centre, comma-separated (e.g. CL,V,KA,IC50); see "
              "popkin.infer.centring")
@click.option("--dense-mass", default="diagonal", show_default=True, callback=_dense_mass,
              help="NUTS mass matrix: diagonal, dense, typical (one dense block over the typical values: for "
              "strongly correlated THETAs, e.g. VM with KM and CL), or blocks of site names (e.g. VM,KM,CL/KDEG,KINACT)")
@click.option("--init-mass", type=click.Choice(["unit", "map"]), default="unit", show_default=True,
              help="NUTS metric warm-up starts from: unit (the identity) or map (the curvature at the MAP "
              "start, block by block; for slow ODE models whose first warm-up window runs at maximum tree depth)")
@click.option("--adapt-mass/--fixed-mass", default=True, show_default=True,
              help="adapt the NUTS mass matrix in warm-up windows, or keep the starting one (with --init-mass map)")
@click.option("--layout", default=None, help="data layout name (popkin.data.LAYOUTS), overrides the model file's")
@click.option("--translate", multiple=True, help="data translation (repeatable), overrides the model file's")
@click.option("--progress/--no-progress", default=True, show_default=True)
def fit(data, model_file, method, out, chains, warmup, draws, target_accept, seed, parameterization, dense_mass,
        init_mass, adapt_mass, layout, translate, progress):
    """Fit the population model in MODEL_FILE to DATA and write the parameter table
    (parameters.csv), the posterior (posterior.nc) and a summary into the new folder OUT."""
    if Path(out).exists():
        raise click.ClickException(f"{out} already exists; give a new folder for the outputs")
    if method == "nuts":
        _host_devices(chains)
    import jax

    jax.config.update("jax_enable_x64", True)
    from popkin.data import LAYOUTS, read
    from popkin.infer.catalogue import load_catalogue_model
    from popkin.infer.fit import fit as run_fit
    from popkin.infer.map import MAPOptions
    from popkin.infer.nuts import NUTSOptions
    from popkin.infer.outputs import write_outputs

    try:
        entry = load_catalogue_model(model_file)
        kwargs = dict(entry.read)
        if layout is not None:
            if layout not in LAYOUTS:
                raise click.ClickException(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
            kwargs["mapping"] = LAYOUTS[layout]
        if translate:
            kwargs["translate"] = tuple(translate)
        dataset = read(data, **kwargs)
        if method == "nuts":
            from popkin.infer.centring import centred_mask

            try:
                centred_mask(entry.model, parameterization)   # names checked before any work
            except ValueError as err:
                raise click.BadParameter(str(err), param_hint="--parameterization") from None
            options = NUTSOptions(chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
                                  seed=seed, progress=progress, parameterization=parameterization,
                                  dense_mass=dense_mass, init_mass=init_mass, adapt_mass=adapt_mass)
        elif method == "map":
            options = MAPOptions(seed=seed)
        else:
            options = None
        result = run_fit(entry.model, dataset, method=method, options=options)
        paths = write_outputs(result, out)
    except PopkinError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.summary())
    click.echo("wrote " + ", ".join(str(p) for p in paths))
