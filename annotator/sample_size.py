"""How many units a reliability sample needs: Krippendorff's sample-size planner.

Before a reliability test, a researcher chooses the smallest alpha the data may have
(``alpha_min``, 0.8 by convention, 0.667 for tentative conclusions) and the significance level
at which alpha must not be below it (``significance``, 0.05 by convention). Krippendorff
(Content Analysis, 2nd ed. 2004, ch. 11; 4th ed. 2019) tabulates the minimum number of units
for these choices, using Bloch & Kraemer's (1989, p. 276) equation 3.7 for two coders:

    N = 2 z² [ (1 + alpha_min)(3 - alpha_min) / (4 (1 - alpha_min) P_c (1 - P_c)) - alpha_min ]

rounded up, where z is the one-tailed standard normal quantile of ``significance`` (1.645 for
0.05). ATLAS.ti's inter-coder agreement manual reproduces two entries of Krippendorff's (2019)
table: 139 units for alpha_min = 0.8 at 0.05 with P_c = 1/4, and 81 for alpha_min = 0.667.

P_c (``smallest_share``) is the share of the least frequent value you expect among the coded
values; with no idea of the distribution, use 1 / number of options (``smallest_share_for``).
The rarer the least frequent value, the larger the sample, because that value must occur
often enough in the sample for disagreements on it to show.

The result is the number of units that every coder codes. The formula is the one for two
coders; ATLAS.ti's manual suggests adjusting it for more coders, which is not done here.
This module imports no Flask.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["PLANNER_DEFAULTS", "required_units", "smallest_share_for"]

# Krippendorff (2004, p. 241): rely on alpha >= 0.8; 0.05 is the conventional significance level.
PLANNER_DEFAULTS = {"alpha_min": 0.8, "significance": 0.05}


def required_units(alpha_min: float, significance: float, smallest_share: float) -> int:
    """Return the number of units every coder must code for alpha >= ``alpha_min``.

    ``significance`` is the probability, one-tailed, of wrongly concluding that alpha reaches
    ``alpha_min``; ``smallest_share`` is the expected share P_c of the least frequent value.
    Raises ValueError unless 0 < alpha_min < 1, 0 < significance < 0.5 and
    0 < smallest_share <= 0.5.
    """
    if not 0 < alpha_min < 1:
        raise ValueError(f"alpha_min must be between 0 and 1 (exclusive), got {alpha_min!r}")
    if not 0 < significance < 0.5:
        raise ValueError(
            f"significance must be between 0 and 0.5 (exclusive), got {significance!r}"
        )
    if not 0 < smallest_share <= 0.5:
        raise ValueError(
            f"smallest_share must be above 0 and at most 0.5 (the least frequent of at least "
            f"two values), got {smallest_share!r}"
        )
    z = NormalDist().inv_cdf(1 - significance)
    spread = smallest_share * (1 - smallest_share)
    units = (
        2 * z**2 * ((1 + alpha_min) * (3 - alpha_min) / (4 * (1 - alpha_min) * spread) - alpha_min)
    )
    return math.ceil(units)


def smallest_share_for(n_options: int) -> float:
    """Return 1 / ``n_options``: P_c when every option is expected to be equally frequent.

    Real codebooks rarely have equally frequent values, so this is the most optimistic guess;
    when one option is expected to be rare, pass its expected share to ``required_units``.
    """
    if n_options < 2:
        raise ValueError(f"a variable needs at least two options, got {n_options!r}")
    return 1 / n_options
