"""NUTS over the population model (numpyro), several chains, started from the MAP.

The kernel is numpyro's NUTS (``numpyro.infer.hmc.hmc``) driven by a potential
generated from the data (``potential_fn_gen``), so that the data are traced arguments
(``MCMC(jit_model_args=True)``): a ``Sampler`` reused on new data of the same shapes
does not recompile, and the structural model is never run outside compiled code.

Chains run in parallel on CPU devices when JAX has as many host devices as chains
(``numpyro.set_host_device_count``, which the ``popkin fit`` command sets), vectorised on
a GPU/TPU, sequentially otherwise. In parallel, the ``jax.pmap`` over chains takes the
data as (broadcast) arguments (``ParallelChains``): numpyro's own "parallel" closes over
them, so XLA receives them as constants (constant-folding the engine's data-only work at
compile time) and every run compiles anew.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from functools import partial

import jax
import numpy as np
from jax import vmap
from numpyro.infer import MCMC
from numpyro.infer.hmc import hmc
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import potential_energy
from numpyro.util import is_prng_key

from popkin.errors import FitError
from popkin.infer.centring import centred_mask, check_parameterization, from_centred, to_centred
from popkin.infer.density import with_derived
from popkin.infer.map import MAPOptions, Mode, find_mode, jittered, sampler_start
from popkin.infer.numpyro_model import population_model
from popkin.infer.problem import Problem
from popkin.model import PopulationModel

log = logging.getLogger(__name__)

EXTRA_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy", "adapt_state.step_size")


@dataclass(frozen=True)
class NUTSOptions:
    """Settings of a NUTS fit.

    chains, warmup, draws: number of chains, warm-up (adaptation) and kept iterations per
        chain (defaults 4 x 500 x 500).
    target_accept: target mean acceptance probability of step-size adaptation (0.9:
        smaller steps than numpyro's 0.8, fewer divergences in hierarchical models).
    max_tree_depth: at most 2^depth - 1 leapfrog steps per iteration.
    dense_mass: the mass matrix NUTS adapts in warm-up. False (default): diagonal.
        True: dense over every coordinate (costly with many subjects). "typical": one
        dense block over the typical values (THETAs), the rest diagonal: for models whose
        typical values are strongly correlated in the posterior (VM with KM and CL in
        parallel Michaelis-Menten and linear elimination, KDEG with KINACT in enzyme
        turnover), which a diagonal metric can only cross in many short steps. Or a
        tuple of blocks, each a tuple of sampled site names (typical values, "omega",
        "sigma_add", ...), e.g. (("VM", "KM", "CL"), ("KDEG", "KINACT")): one dense
        block each (numpyro's structured mass matrix).
    seed: the random seed (same seed, same draws on the same machine).
    progress: show a progress bar.
    init: "map" (chains start at the MAP, see ``popkin.infer.map.sampler_start``) or
        "initial" (at the model's initial values).
    jitter: SD of the Gaussian jitter added to the starting point of each chain
        (unconstrained scale), so that R-hat can see chains that disagree. With rich
        data posterior SDs can be far smaller (LXI-15029: down to 0.005), and 0.1 then
        starts the chains many SDs out; lower it there.
    parameterization: the coordinates NUTS moves in: "noncentered" (the model's own:
        standard normal deviates z per subject; best for sparse data), "centered" (each
        subject's parameters on the eta scale, ``popkin.infer.centring``; best when the
        data pin every subject's parameters, e.g. rich sampling or a PD response), or a
        tuple of the parameters to centre (the others stay non-centred). Same posterior
        and the same returned sites either way.
    init_mass: the inverse mass matrix warm-up starts from. "unit" (default): the
        identity, numpyro's start. "map": from the Hessian at the MAP start, in the
        sampler's coordinates: each block of ``dense_mass`` gets its covariance given the
        other coordinates (``popkin.infer.metric``; 2 d extra gradients for d
        coordinates; needs ``init="map"``). For slow ODE models
        whose first warm-up window would otherwise run at maximum tree depth.
    adapt_mass: adapt the mass matrix in warm-up windows (default True, numpyro's
        windows). False keeps the starting one and adapts only the step size: with
        ``init_mass="map"`` and short warm-ups, where a window of a few dozen draws
        estimates the metric worse than the curvature at the mode does.
    """

    chains: int = 4
    warmup: int = 500
    draws: int = 500
    target_accept: float = 0.9
    max_tree_depth: int = 10
    dense_mass: bool | str | tuple = False
    seed: int = 0
    progress: bool = True
    init: str = "map"
    jitter: float = 0.1
    parameterization: str | tuple = "noncentered"
    init_mass: str = "unit"
    adapt_mass: bool = True

    def __post_init__(self):
        if self.init not in ("map", "initial"):
            raise ValueError(f"NUTSOptions.init must be 'map' or 'initial', got {self.init!r}")
        if self.init_mass not in ("unit", "map"):
            raise ValueError(f"NUTSOptions.init_mass must be 'unit' or 'map', got {self.init_mass!r}")
        if self.init_mass == "map" and self.init != "map":
            raise ValueError('NUTSOptions(init_mass="map") needs init="map": the metric is the curvature at the '
                             'MAP the chains start from')
        check_parameterization(self.parameterization)
        if not isinstance(self.parameterization, str):
            object.__setattr__(self, "parameterization", tuple(self.parameterization))
        if isinstance(self.dense_mass, str):
            if self.dense_mass != "typical":
                raise ValueError(f'NUTSOptions.dense_mass must be True, False, "typical" or a tuple of blocks of '
                                 f'site names, got {self.dense_mass!r}')
        elif not isinstance(self.dense_mass, bool):
            blocks = tuple(tuple(b) for b in self.dense_mass)
            if not blocks or any(not b or not all(isinstance(n, str) for n in b) for b in blocks):
                raise ValueError(f"NUTSOptions.dense_mass: each block must be a non-empty tuple of site names, "
                                 f"e.g. (('VM', 'KM', 'CL'),); got {self.dense_mass!r}")
            object.__setattr__(self, "dense_mass", blocks)
        if min(self.chains, self.warmup, self.draws) < 1:
            raise ValueError("NUTSOptions: chains, warmup and draws must be >= 1")


def chain_method(chains: int, ode: bool = False) -> str:
    """'vectorized' on an accelerator, 'parallel' on CPU when there are enough host
    devices for the chains, 'sequential' otherwise.

    ode: the structural model's gradient goes through diffrax in reverse mode. Such
    models never run in 'parallel' (``jax.pmap``): the reverse pass of diffrax's
    checkpointed adjoint fails under pmap ("Closure-converted function called with
    different dynamic arguments", diffrax issue #765, seen here with the warfarin PK/PD
    model), so their chains run one after the other on CPU. ODE models with
    ``ODEOptions(sensitivities="forward")`` have no reverse pass through the solver and
    run in parallel."""
    if jax.default_backend() != "cpu":
        return "vectorized"
    return "parallel" if jax.local_device_count() >= chains > 1 and not ode else "sequential"


def uses_ode(model: PopulationModel) -> bool:
    """Whether the gradient of ``model`` goes through a diffrax solve in reverse mode: its
    structural model integrates an ODE (carries ``ODEOptions``, also inside a PK/PD
    model) without forward sensitivities."""
    from popkin.pk.ode import ode_options

    return any(o.sensitivities == "reverse" for o in ode_options(model.structural))


class ParallelChains:
    """A ``chain_method`` for numpyro's ``MCMC``: its "parallel" (``jax.pmap`` over
    chains), with the model arguments passed to the pmapped function instead of closed
    over.

    ``MCMC.run`` maps ``partial(mcmc._single_chain_mcmc, args=..., kwargs=...,
    collect_fields=..., remove_sites=...)`` over (key, state, init) per chain; under
    ``pmap`` the bound ``args`` (the data) would be traced as constants. Here they are
    arguments with ``in_axes=None`` (replicated), the rest static, and the pmapped
    function is built once, so a second run with data of the same shapes reuses the
    compiled program. Anything else is mapped with plain ``jax.pmap``."""

    def __init__(self):
        self._compiled = jax.pmap(self._chain, in_axes=(0, None, None), static_broadcasted_argnums=(3,))

    @staticmethod
    def _plain(fn):
        """Any other mapped function: numpyro's own mapping."""
        return jax.pmap(fn)

    @staticmethod
    def _chain(map_args, args, kwargs, static):
        fn, keywords, _ = static
        return fn(map_args, args=args, kwargs=kwargs, **dict(keywords))

    def __call__(self, fn):
        if not (isinstance(fn, partial) and not fn.args and {"args", "kwargs"} <= set(fn.keywords)):
            return self._plain(fn)
        keywords = dict(fn.keywords)
        args, kwargs = keywords.pop("args"), keywords.pop("kwargs")
        # what the trace of MCMC._single_chain_mcmc reads from the MCMC object besides its
        # arguments (the collection window) is part of the static key
        window = tuple(sorted(getattr(getattr(fn.func, "__self__", None), "_collection_params", {}).items()))
        static = (fn.func, tuple(sorted(keywords.items())), window)
        return lambda map_args: self._compiled(map_args, args, kwargs, static)


class SequentialChains(ParallelChains):
    """A ``chain_method`` for numpyro's ``MCMC``: its "sequential" (one chain after the
    other), but as one jitted ``lax.map`` over the chains, built once, with the model
    arguments passed in (as ``ParallelChains``). numpyro's own "sequential" re-jits its
    sampling loop on every ``run`` (fresh ``jit`` wrappers in ``fori_collect``): each run
    of a ``Sampler`` then recompiled (~15 s for a small model) and kept the old program
    mapped, so a loop of ~40 runs exhausted the process's memory maps (LLVM "Unable to
    allocate section memory"). Used without a progress bar only: numpyro draws its bar
    from a Python loop, which cannot run inside a compiled program."""

    def __init__(self):
        self._compiled = jax.jit(lambda map_args, args, kwargs, static: jax.lax.map(
            lambda one: self._chain(one, args, kwargs, static), map_args), static_argnums=(3,))

    @staticmethod
    def _plain(fn):
        return lambda map_args: jax.lax.map(fn, map_args)


def parse_dense_mass(text: str):
    """A mass matrix written on a command line -> ``NUTSOptions(dense_mass=...)``:
    "diagonal", "dense" (every coordinate), "typical" (one block over the typical
    values), or blocks of site names, names separated by commas and blocks by "/"
    (e.g. "VM,KM,CL/KDEG,KINACT"; names are checked against the model when the fit
    starts)."""
    text = text.strip()
    fixed = {"diagonal": False, "dense": True, "typical": "typical"}
    if text in fixed:
        return fixed[text]
    blocks = tuple(tuple(n.strip() for n in b.split(",") if n.strip()) for b in text.split("/"))
    if not blocks or any(not b or not all(n.isidentifier() for n in b) for b in blocks):
        raise ValueError(f"dense mass must be diagonal, dense, typical or blocks of site names (commas within a "
                         f"block, / between blocks, e.g. VM,KM,CL/KDEG,KINACT), got {text!r}")
    return blocks


def mass_blocks(model: PopulationModel, space, dense_mass):
    """``NUTSOptions.dense_mass`` as numpyro's NUTS takes it: a bool, or a list of blocks
    of site names (each block sorted, so that a block's mass matrix has one layout).
    Unknown or repeated names are refused (``FitError``) with the names there are."""
    if isinstance(dense_mass, bool):
        return dense_mass
    blocks = (tuple(model.thetas),) if dense_mass == "typical" else dense_mass
    sites = set(space.shapes)
    seen = [n for b in blocks for n in b]
    unknown = [n for n in seen if n not in sites]
    if unknown:
        raise FitError(f"NUTSOptions.dense_mass: {', '.join(map(repr, unknown))} not sampled sites of model "
                         f"{model.name!r}; the sites are {', '.join(sorted(sites))}")
    if len(set(seen)) != len(seen):
        raise FitError(f"NUTSOptions.dense_mass: a site is in more than one block: {blocks!r}")
    return [tuple(sorted(b)) for b in blocks if b]


class PopulationNUTS(MCMCKernel):
    """numpyro's NUTS on ``population_model``, the data passed as model arguments
    ``(data, dv)``. Samples are the constrained sampled sites plus eta, corr_iiv and
    individual (computed without the structural model). With
    ``parameterization="centered"`` the chains move in the centred coordinates of
    ``popkin.infer.centring`` and the draws are mapped back."""

    sample_field = "z"

    def __init__(self, model: PopulationModel, space, options: NUTSOptions):
        self._model, self._space, self._options = model, space, options
        self._mask = centred_mask(model, options.parameterization)
        self._centred = any(self._mask)
        self.dense_mass = mass_blocks(model, space, options.dense_mass)   # as numpyro's NUTS takes it
        self.inverse_mass = None      # the initial inverse mass matrix; None: the identity
        self._init_fn, self._base_sample_fn = hmc(potential_fn_gen=self._potential_gen, algo="NUTS")
        self._sample_fn = self._base_sample_fn

    def _potential_gen(self, data, dv):
        if not self._centred:
            return partial(_potential, self._model, data, dv)

        def centred(w):
            u, log_det = from_centred(self._model, self._space, data, w, self._mask)
            return _potential(self._model, data, dv, u) - log_det

        return centred

    def model_point(self, data, w):
        """The model's unconstrained point (site -> array) at the sampler's position ``w``."""
        return from_centred(self._model, self._space, data, w, self._mask)[0] if self._centred else w

    @property
    def default_fields(self):
        return ("z", "diverging")

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        o = self._options

        def one(params, key):
            if self._centred:
                params = to_centred(self._model, self._space, model_args[0], params, self._mask)
            return self._init_fn(params, num_warmup=num_warmup, target_accept_prob=o.target_accept,
                                 max_tree_depth=o.max_tree_depth, dense_mass=self.dense_mass,
                                 inverse_mass_matrix=self.inverse_mass, adapt_mass_matrix=o.adapt_mass,
                                 model_args=model_args, model_kwargs=model_kwargs, rng_key=key)

        if is_prng_key(rng_key):
            self._sample_fn = self._base_sample_fn
            return one(init_params, rng_key)
        self._sample_fn = vmap(self._base_sample_fn, in_axes=(0, None, None))
        return vmap(one)(init_params, rng_key)

    def set_map_metric(self, problem: Problem, mode: Mode) -> None:
        """Start warm-up from the curvature at the chains' unjittered start (the MAP
        ``mode``), in this kernel's coordinates (``popkin.infer.metric``)."""
        from popkin.infer.metric import inverse_mass, laplace_hessian

        data, dv = problem.data, problem.data.events.dv
        w = sampler_start(problem, mode)
        if self._centred:
            w = to_centred(self._model, self._space, data, w, self._mask)
        hess = laplace_hessian(self._potential_gen(data, dv), w)
        self.inverse_mass = inverse_mass(hess, w, self.dense_mass)

    def sample(self, state, model_args, model_kwargs):
        return self._sample_fn(state, model_args, model_kwargs)

    def postprocess_fn(self, model_args, model_kwargs):
        data = model_args[0]
        return lambda w: with_derived(self._model, data, self._space.constrain(self.model_point(data, w)))

    def get_diagnostics_str(self, state):
        return f"{state.num_steps} steps of size {state.adapt_state.step_size:.2e}. acc. prob={state.mean_accept_prob:.2f}"


def _potential(model, data, dv, u):
    return potential_energy(partial(population_model, model), (data, dv), {}, u)


@dataclass(frozen=True)
class Draws:
    """What a NUTS run returns: ``samples`` (site -> (chains, draws, ...)), ``stats``
    (sampler field -> (chains, draws)), the ``mode`` it started from (or None), and
    ``chain_method``."""

    samples: dict
    stats: dict
    mode: Mode | None
    chain_method: str


def seed_keys(seed: int):
    """The two keys of a run's seed: (jitter of the starting points, the sampler's run)."""
    return jax.random.split(jax.random.PRNGKey(seed))


def chain_starts(problem: Problem, options: NUTSOptions, seed: int | None = None):
    """Where a NUTS run starts: the MAP (``options.init == "map"``; else None), each
    chain's jittered starting point (site -> (chains, ...); without the chain axis for one
    chain) and the key of the run, all from ``seed`` (default ``options.seed``)."""
    key_init, key_run = seed_keys(options.seed if seed is None else seed)
    mode = find_mode(problem, MAPOptions()) if options.init == "map" else None
    init = jittered(sampler_start(problem, mode), options.chains, options.jitter, key_init)
    if options.chains == 1:
        init = {k: v[0] for k, v in init.items()}
    return mode, init, key_run


class Sampler:
    """A reusable NUTS sampler for one population model and data shape: running it on
    new data of the same shapes (same model object) does not recompile, with chains in
    parallel (``ParallelChains``) or, without a progress bar, one after the other
    (``SequentialChains``). A single chain, or sequential chains with a progress bar, go
    through numpyro's own loop, which recompiles on every run."""

    def __init__(self, problem: Problem, options: NUTSOptions = NUTSOptions()):
        self.model = problem.model
        self.options = options
        self.chain_method = chain_method(options.chains, uses_ode(problem.model))
        kernel = PopulationNUTS(problem.model, problem.space, options)
        parallel = self.chain_method == "parallel"
        method = self.chain_method
        if parallel:
            method = ParallelChains()
        elif method == "sequential" and options.chains > 1 and not options.progress:
            method = SequentialChains()      # compiled once, reused by every run
        with warnings.catch_warnings():  # numpyro turns the progress bar off for a callable
            warnings.filterwarnings("ignore", message="Disabling progress bar")
            self._mcmc = MCMC(kernel, num_warmup=options.warmup, num_samples=options.draws,
                              num_chains=options.chains,
                              chain_method=method,
                              progress_bar=options.progress, jit_model_args=True)
        if parallel:  # as numpyro's "parallel" (one bar per chain), off in CI and xdist workers
            self._mcmc.progress_bar = options.progress and not ("CI" in os.environ
                                                                or "PYTEST_XDIST_WORKER" in os.environ)

    def run(self, problem: Problem, seed: int | None = None) -> Draws:
        """Sample the posterior of ``problem`` (same model object as the sampler's)."""
        if problem.model is not self.model:
            raise ValueError("this Sampler was built for another model object")
        t0 = time.perf_counter()
        mode, init, key_run = chain_starts(problem, self.options, seed)
        log.info("NUTS start point (MAP) found in %.1f s; sampling %d chains (%s)",
                 time.perf_counter() - t0, self.options.chains, self.chain_method)
        if self.options.init_mass == "map":
            self._mcmc.sampler.set_map_metric(problem, mode)
        self._mcmc.run(key_run, problem.data, problem.data.events.dv, init_params=init,
                       extra_fields=EXTRA_FIELDS)
        log.info("NUTS warm-up and draws done in %.1f s", time.perf_counter() - t0)
        samples = {k: np.asarray(v) for k, v in self._mcmc.get_samples(group_by_chain=True).items()}
        stats = {k: np.asarray(v) for k, v in self._mcmc.get_extra_fields(group_by_chain=True).items()}
        return Draws(samples, stats, mode, self.chain_method)
