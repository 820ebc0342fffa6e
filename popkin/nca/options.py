"""Options of a non-compartmental analysis: small frozen dataclasses, validated on
construction so that a wrong setting fails before any profile is read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from popkin.errors import PopkinError

METHODS = ("linear", "lin-up/log-down")
BLQ_ACTIONS = ("zero", "drop")


class NCAOptionsError(PopkinError, ValueError):
    """An NCA option has an invalid value."""


@dataclass(frozen=True)
class LambdaZRule:
    """How the terminal rate constant lambda_z is chosen (WinNonlin "best fit", PKNCA).

    Every set made of the last ``min_points`` or more positive concentrations after
    Cmax is fitted by least squares on log(concentration); among the fits with a
    negative slope, those whose adjusted R-squared is within ``adj_r2_tolerance`` of
    the best one are kept and the one with the most points wins.

    min_points: at least 3 (with 2 points the adjusted R-squared is undefined).
    include_cmax: allow the Cmax sample itself in the regression (default: excluded).
    adj_r2_tolerance: 1e-4 as in WinNonlin and PKNCA.
    """

    min_points: int = 3
    include_cmax: bool = False
    adj_r2_tolerance: float = 1e-4

    def __post_init__(self):
        if not isinstance(self.min_points, int) or self.min_points < 3:
            raise NCAOptionsError(
                f"LambdaZRule.min_points must be an integer >= 3, got {self.min_points!r}: "
                "the adjusted R-squared that selects the points needs at least 3."
            )
        if not (self.adj_r2_tolerance >= 0 and math.isfinite(self.adj_r2_tolerance)):
            raise NCAOptionsError(
                f"LambdaZRule.adj_r2_tolerance must be a finite number >= 0, "
                f"got {self.adj_r2_tolerance!r}."
            )


@dataclass(frozen=True)
class BLQRule:
    """What a below-the-limit-of-quantification sample becomes, by its position.

    first: BLQ samples before the first measurable concentration;
    middle: BLQ samples between measurable concentrations;
    last: BLQ samples after the last measurable concentration.
    Each is "zero" (the sample is kept with concentration 0) or "drop" (it is
    treated as missing). The default (first "zero", then "drop") is PKNCA's and
    the usual clinical-report convention. A concentration of exactly 0 is BLQ.
    """

    first: str = "zero"
    middle: str = "drop"
    last: str = "drop"

    def __post_init__(self):
        for name in ("first", "middle", "last"):
            value = getattr(self, name)
            if value not in BLQ_ACTIONS:
                raise NCAOptionsError(
                    f"BLQRule.{name} must be one of {BLQ_ACTIONS}, got {value!r}."
                )


@dataclass(frozen=True)
class NCAOptions:
    """Settings of one NCA run.

    method: "lin-up/log-down" (linear trapezoid while concentrations rise or stay
        level, log trapezoid while they fall; PKNCA's default) or "linear".
    tau: the dosing interval in hours (same time unit as TIME), or None. Needed
        for AUCTAU, CAV, CLFTAU, VZFTAU and the accumulation ratios.
    lambda_z: a ``LambdaZRule``.
    blq: a ``BLQRule``.
    impute_c0: when a profile has no sample at the dose time (TIME 0), insert one
        as WinNonlin does for extravascular dosing: 0 after a single dose, the
        minimum concentration of the dosing interval at steady state.
    """

    method: str = "lin-up/log-down"
    tau: float | None = None
    lambda_z: LambdaZRule = field(default_factory=LambdaZRule)
    blq: BLQRule = field(default_factory=BLQRule)
    impute_c0: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise NCAOptionsError(
                f"NCAOptions.method must be one of {METHODS}, got {self.method!r}."
            )
        if self.tau is not None:
            try:
                tau = float(self.tau)
            except (TypeError, ValueError):
                tau = float("nan")
            if not (math.isfinite(tau) and tau > 0):
                raise NCAOptionsError(
                    f"NCAOptions.tau must be a positive number of hours or None, got {self.tau!r}."
                )
            object.__setattr__(self, "tau", tau)
        if not isinstance(self.lambda_z, LambdaZRule):
            raise NCAOptionsError("NCAOptions.lambda_z must be a LambdaZRule.")
        if not isinstance(self.blq, BLQRule):
            raise NCAOptionsError("NCAOptions.blq must be a BLQRule.")
