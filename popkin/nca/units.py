"""Units of NCA parameters: labels, and the scale factor that puts clearances and
volumes in litres (a report gives CL/F in L/h when doses are in mg and
concentrations in ng/mL: 1 mg / (1 h * 1 ng/mL) = 1000 L/h)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# amount units in grams or moles; volume units in litres
_MASS = {"pg": 1e-12, "ng": 1e-9, "ug": 1e-6, "µg": 1e-6, "mcg": 1e-6, "mg": 1e-3, "g": 1.0}
_MOLE = {"pmol": 1e-12, "nmol": 1e-9, "umol": 1e-6, "µmol": 1e-6, "mmol": 1e-3, "mol": 1.0}
_VOLUME = {"ml": 1e-3, "dl": 1e-1, "l": 1.0}


def _amount(unit: str) -> tuple[str, float] | None:
    u = unit.strip()
    if u in _MASS:
        return "mass", _MASS[u]
    if u in _MOLE:
        return "mole", _MOLE[u]
    return None


@dataclass(frozen=True)
class Units:
    """Units of the input columns.

    time: unit of TIME (and of tau), e.g. "h".
    conc: unit of CONC, amount per volume, e.g. "ng/mL", "mg/L", "nmol/L".
    dose: unit of DOSE, an amount ("mg") or an amount per body weight ("mg/kg").
    Clearances and volumes are reported in L (per kg when the dose is per kg)
    whenever the amounts of dose and concentration are commensurable; otherwise
    they are reported unscaled with a composite unit such as "mg/(h*ng/mL)".
    """

    time: str = "h"
    conc: str = "ng/mL"
    dose: str = "mg"

    def _volume_scale(self) -> tuple[float, str] | None:
        """Factor converting dose/conc into litres, and the per-weight suffix."""
        m = re.fullmatch(r"\s*([^/\s]+)\s*/\s*([^/\s]+)\s*", self.conc)
        if m is None:
            return None
        c_amount, c_volume = _amount(m.group(1)), _VOLUME.get(m.group(2).lower())
        dose, per = self.dose.strip(), ""
        if "/" in dose:
            dose, per = (part.strip() for part in dose.split("/", 1))
            if per.lower() != "kg":
                return None
            per = "/kg"
        d_amount = _amount(dose)
        if c_amount is None or c_volume is None or d_amount is None:
            return None
        if c_amount[0] != d_amount[0]:
            return None
        return d_amount[1] / c_amount[1] * c_volume, per

    def resolve(self, rule: str) -> tuple[str, float]:
        """Unit label and scale factor of a registry unit rule.

        Rules: "conc", "time", "1/time", "auc" (time*conc), "clearance"
        (dose/auc), "volume" (dose/conc), "%", "" (dimensionless), "count".
        """
        if rule == "conc":
            return self.conc, 1.0
        if rule == "time":
            return self.time, 1.0
        if rule == "1/time":
            return f"1/{self.time}", 1.0
        if rule == "auc":
            return f"{self.time}*{self.conc}", 1.0
        if rule in ("clearance", "volume"):
            scale = self._volume_scale()
            if scale is None:
                raw = f"{self.dose}/({self.time}*{self.conc})" if rule == "clearance" else f"{self.dose}/({self.conc})"
                return raw, 1.0
            factor, per = scale
            label = f"L/{self.time}{per}" if rule == "clearance" else f"L{per}"
            return label, factor
        if rule in ("%", "", "count"):
            return rule, 1.0
        raise KeyError(f"unknown unit rule {rule!r}")
