"""Text and JSON specifications for the command line: population files, regimens,
targets and selection limits.

Population JSON (fixed population values, so simulations and dosing work without a fit)::

    {
      "model": "1cmt-oral",                      registered structural model, or a .py file
      "parameters": {"CL": 5.0, "V": 50.0, "KA": 1.5,
                     "F1": {"fixed": 0.8},        a constant
                     "S2": {"ratio": ["V", 1000]}},   derived: V / 1000 (mg doses -> ng/mL)
      "units": {"CL": "L/h", "V": "L", "KA": "1/h"},   optional, for tables
      "omega": {"CL": 0.3, "V": 0.2},            IIV SDs on the log scale (optional)
      "correlation": [[1, 0.4], [0.4, 1]],       optional, over the omega entries in order
      "error": {"prop": 0.15, "add": 0.3}        prop, add, both (combined), or log
    }

Numbers are typical values (``Theta``); every parameter with an omega has log-normal IIV.

Regimen text (``parse_regimen``): ``"<amount> [unit] <frequency> [over <h> h] [cmt <n>]"``
with frequency QD, BID, TID, QW or q<h>h (every h hours), e.g. ``"110 mg BID"``,
``"200 QD"``, ``"1000 mg QW"``, ``"50 mg q8h over 1 h cmt 2"`` (1-h infusions into
compartment 2); a loading dose: ``"300 mg loading then 100 mg BID"``.

Target text (``parse_target``): ``"ctrough>=5"``, ``"cmax<=50"``, ``"auc:100-300"``
(AUC within [100, 300]); metrics as in ``popkin.simulate.metrics``.

Limit text (``parse_limit``): ``"P(alt_increased) upper<=0.25"`` (a column of the
selection table, ``<=`` or ``>=``, a number).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from popkin.dosing import Regimen, every, loading
from popkin.errors import ModelError
from popkin.simulate.population import FixedPopulation, PosteriorPopulation
from popkin.simulate.selection import Limit
from popkin.simulate.summary import Target

__all__ = ["population_from_json", "population_from_dict", "parse_regimen", "parse_target", "parse_limit",
           "load_source"]

_FREQ = {"QD": 24.0, "BID": 12.0, "TID": 8.0, "QID": 6.0, "QW": 168.0}


def population_from_dict(spec: dict) -> FixedPopulation:
    """A ``FixedPopulation`` from the JSON structure of the module docstring."""
    from popkin.model import (IIV, AdditiveError, CombinedError, Derived, ExponentialError, Fixed,
                              PopulationModel, ProportionalError, Theta)

    unknown = set(spec) - {"model", "parameters", "units", "omega", "correlation", "error", "name"}
    if unknown:
        raise ModelError(f"population file: unknown key(s) {sorted(unknown)}")
    for key in ("model", "parameters", "error"):
        if key not in spec:
            raise ModelError(f"population file: missing {key!r}")
    units = spec.get("units", {})
    params = {}
    for name, value in spec["parameters"].items():
        if isinstance(value, (int, float)):
            params[name] = Theta(float(value), units.get(name, ""))
        elif isinstance(value, dict) and set(value) == {"fixed"}:
            params[name] = Fixed(float(value["fixed"]), units.get(name, ""))
        elif isinstance(value, dict) and set(value) == {"ratio"}:
            num, den = value["ratio"]
            if num not in params:
                raise ModelError(f"population file: {name} = {num}/{den:g} needs {num} defined before it")
            params[name] = Derived(lambda p, num=num, den=float(den): p[num] / den, f"{num}/{den:g}")
        else:
            raise ModelError(f"population file: parameter {name} must be a number, {{\"fixed\": x}} or "
                             f"{{\"ratio\": [\"V\", 1000]}}, not {value!r}")
    omega = {k: float(v) for k, v in spec.get("omega", {}).items()}
    corr = spec.get("correlation")
    iiv = IIV(tuple(omega), correlated=corr is not None) if omega else ()
    err = {k: float(v) for k, v in spec["error"].items()}
    if set(err) == {"prop"}:
        error = ProportionalError(err["prop"])
    elif set(err) == {"add"}:
        error = AdditiveError(err["add"])
    elif set(err) == {"prop", "add"}:
        error = CombinedError(add=err["add"], prop=err["prop"])
    elif set(err) == {"log"}:
        error = ExponentialError(err["log"])
    else:
        raise ModelError(f"population file: error must have prop, add, both, or log; got {sorted(err)}")
    model = PopulationModel(spec["model"], params, error=error, iiv=iiv, name=spec.get("name", ""))
    values = {}
    if omega:
        values["omega"] = omega
    if corr is not None:
        values["corr_iiv"] = np.asarray(corr, dtype=float)
    return FixedPopulation(model, values)


def population_from_json(path) -> FixedPopulation:
    """``population_from_dict`` of a JSON file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"population file {path} does not exist")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"population file {path} is not valid JSON: {exc}") from exc
    return population_from_dict(spec)


def load_source(population=None, model=None, posterior=None, draws: int | None = None):
    """The parameter source of a command: a population JSON, or a model file (its initial
    values as a fixed population), or a model file with a saved fit (its posterior)."""
    if population is not None:
        if model is not None or posterior is not None:
            raise ModelError("give either --population or --model [--posterior], not both")
        return population_from_json(population)
    if model is None:
        raise ModelError("give --population pop.json, or --model model.py (with --posterior fit.nc for a fit)")
    from popkin.infer.catalogue import load_catalogue_model

    pop_model = load_catalogue_model(model).model
    if posterior is None:
        return FixedPopulation(pop_model)
    from popkin.infer import load

    return PosteriorPopulation(load(posterior, model=pop_model), n_draws=draws)


_REGIMEN = re.compile(
    r"^\s*(?P<amt>[0-9]*\.?[0-9]+)\s*(?P<unit>[a-zA-Z]*g)?\s+(?P<freq>QD|BID|TID|QID|QW|Q[0-9]*\.?[0-9]+H)"
    r"(?:\s+over\s+(?P<dur>[0-9]*\.?[0-9]+)\s*h)?(?:\s+cmt\s+(?P<cmt>[0-9]+))?\s*$", re.IGNORECASE)


def _maintenance(text: str, days: int) -> Regimen:
    m = _REGIMEN.match(text)
    if not m:
        raise ValueError(f"cannot read the regimen {text!r}: write e.g. '110 mg BID', '200 QD', '1000 mg QW', "
                         "'50 mg q8h over 1 h cmt 2', '300 mg loading then 100 mg BID'")
    amt = float(m["amt"])
    freq = m["freq"].upper()
    ii = _FREQ.get(freq) or float(freq[1:-1])
    n = max(1, int(round(days * 24.0 / ii)))
    return every(ii, n, amt, cmt=int(m["cmt"] or 1), duration=float(m["dur"] or 0.0), unit=m["unit"] or "mg")


def parse_regimen(text: str, days: int = 28) -> Regimen:
    """A regimen from text (module docstring), dosed for ``days`` days."""
    parts = re.split(r"\s+loading\s+then\s+", text.strip(), flags=re.IGNORECASE)
    if len(parts) == 2:
        m = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*g)?\s*$", parts[0])
        if not m:
            raise ValueError(f"cannot read the loading dose in {text!r}: write '300 mg loading then 100 mg BID'")
        maintenance = _maintenance(parts[1], days)
        block = maintenance.blocks[0]
        return loading(float(m[1]), cmt=block.cmt, duration=block.duration, unit=m[2] or "mg").then(maintenance)
    return _maintenance(text, days)


_TARGET = re.compile(r"^\s*(?P<metric>[a-z_0-9.]+)\s*(?:(?P<op><=|>=)\s*(?P<val>[-+0-9.eE]+)|:\s*(?P<lo>[-+0-9.eE]+)"
                     r"\s*-\s*(?P<hi>[-+0-9.eE]+))\s*$", re.IGNORECASE)


def parse_target(text: str) -> Target:
    """A ``Target`` from text (module docstring)."""
    m = _TARGET.match(text)
    if not m:
        raise ValueError(f"cannot read the target {text!r}: write e.g. 'ctrough>=5', 'cmax<=50', 'auc:100-300'")
    metric = m["metric"].lower()
    if m["op"] == ">=":
        return Target(metric, low=float(m["val"]))
    if m["op"] == "<=":
        return Target(metric, high=float(m["val"]))
    return Target(metric, float(m["lo"]), float(m["hi"]))


def parse_limit(text: str) -> Limit:
    """A ``Limit`` from text: '<column> <= <number>' or '<column> >= <number>'."""
    m = re.match(r"^\s*(?P<col>.+?)\s*(?P<op><=|>=)\s*(?P<val>[-+0-9.eE]+)\s*$", text)
    if not m:
        raise ValueError(f"cannot read the limit {text!r}: write e.g. 'P(alt_increased) upper<=0.25'")
    value = float(m["val"])
    return Limit(m["col"], upper=value) if m["op"] == "<=" else Limit(m["col"], lower=value)

