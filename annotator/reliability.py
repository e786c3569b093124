"""Inter-coder reliability: Krippendorff's alpha and the agreement coefficients beside it.

Everything here works on one variable at a time and on plain data: ``ratings`` maps each unit
(document) to a mapping of coder to value, where a value is None (missing), an option code, a
number, a bool, or for multiple choice a set or list of codes. Only units with at least two values
are pairable and enter any coefficient; a unit coded once changes nothing.

Alpha comes from the ``krippendorff`` package (nominal, ordinal, interval, ratio) and, for sets of
codes, from the same package with the MASI distance (Passonneau 2006) passed as its distance
metric. When units × values² is too large for the package's memory use (many distinct
measurements), the same formula is applied to the coincidence matrix computed here. The 95 %
interval and the probabilities of falling below 0.667 and 0.8 come from a bootstrap of the
pairable value pairs as in Hayes & Krippendorff (2007): pairs are drawn with their
coincidence-matrix weights and the expected disagreement stays fixed.

Undefined statistics are None with a reason in ``undefined_reason``, never 0, 1 or an exception.
This module imports no Flask.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np
import numpy.typing as npt

from annotator.codebook import Variable, VariableType

__all__ = [
    "LEVELS",
    "MINIMUMS",
    "VariableReliability",
    "masi_distance",
    "reliability",
    "variable_reliability",
]

LEVELS = ("nominal", "ordinal", "masi", "interval", "ratio")
# Krippendorff (2004, p. 241): rely on variables with alpha >= 0.8, tentatively >= 0.667.
MINIMUMS = (0.667, 0.8)
# Levels whose values are unordered or ordered categories: Fleiss' kappa and Gwet's AC1 apply.
_CATEGORICAL_LEVELS = frozenset({"nominal", "ordinal"})

NO_CODER = "no coder has coded this variable"
SINGLE_CODER = "a single coder"
NO_PAIRABLE_UNIT = "no unit coded by two coders"
NO_VARIATION = "no variation"

# Above this many cells (units × values²) alpha is computed here rather than by the package.
_PACKAGE_CELLS = 2_000_000

Ratings = Mapping[Hashable, Mapping[Hashable, object]]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VariableReliability:
    """The reliability of one variable (or one option of a multiple-choice variable)."""

    variable: str
    level: str
    alpha: float | None
    ci95: tuple[float, float] | None
    q_below: dict[float, float] | None
    n_units: int
    n_coders: int
    n_pairable: int
    percent_agreement: float | None
    cohen_kappa: dict[str, float | None]
    fleiss_kappa: float | None
    gwet_ac1: float | None
    undefined_reason: str | None
    options: tuple[VariableReliability, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON-able data; ``q_below`` keys become strings ("0.8")."""
        return {
            "variable": self.variable,
            "level": self.level,
            "alpha": self.alpha,
            "ci95": None if self.ci95 is None else list(self.ci95),
            "q_below": (
                None
                if self.q_below is None
                else {str(minimum): share for minimum, share in self.q_below.items()}
            ),
            "n_units": self.n_units,
            "n_coders": self.n_coders,
            "n_pairable": self.n_pairable,
            "percent_agreement": self.percent_agreement,
            "fleiss_kappa": self.fleiss_kappa,
            "gwet_ac1": self.gwet_ac1,
            "cohen_kappa": dict(self.cohen_kappa),
            "undefined_reason": self.undefined_reason,
            "options": [option.to_json() for option in self.options],
        }


def masi_distance(a: Iterable[object], b: Iterable[object]) -> float:
    """Return the MASI distance of two sets: 1 - Jaccard × M (Passonneau 2006).

    M is 1 for equal sets, 2/3 when one is a subset of the other, 1/3 when they overlap
    otherwise and 0 when they are disjoint. Two empty sets are equal (distance 0).
    """
    a, b = frozenset(a), frozenset(b)
    if a == b:
        return 0.0
    common = len(a & b)
    if not common:
        return 1.0
    monotonicity = 2 / 3 if a <= b or b <= a else 1 / 3
    return 1.0 - common / len(a | b) * monotonicity


def reliability(
    variable: Variable,
    ratings: Ratings,
    *,
    samples: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> VariableReliability:
    """Return the reliability of a codebook variable, taking its level and option order."""
    domain: Sequence[object] | None = None
    if variable.type.takes_options:
        domain = variable.codes
    elif variable.type is VariableType.YESNO:
        domain = (False, True)
    return variable_reliability(
        variable.id, ratings, variable.level, domain, samples=samples, seed=seed
    )


def variable_reliability(
    variable: str,
    ratings: Ratings,
    level: str,
    domain: Sequence[object] | None = None,
    *,
    samples: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> VariableReliability:
    """Return every coefficient for one variable.

    ``domain`` is the codebook's option order: required for ordinal data, optional for nominal
    data (it fixes the number of categories for Gwet's AC1), and for ``masi`` the option codes
    that each get a binary present/absent result. ``samples`` bootstrap samples (0 for none)
    are drawn from ``seed``; the same seed gives the same interval.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r} (levels: {', '.join(LEVELS)})")
    if level == "ordinal" and domain is None:
        raise ValueError("ordinal data need the ordered value domain (the codebook's options)")
    rng = np.random.default_rng(seed)
    data, n_coders_seen = _encode(ratings, level, domain)
    result = _reliability(variable, data, n_coders_seen, level, samples, rng)
    if level != "masi":
        return result
    # One binary present/absent variable per option, on the same units and coders.
    sets: list[frozenset[object]] = data.values  # type: ignore[assignment]
    codes = list(domain) if domain is not None else _observed_codes(sets)
    options = []
    for code in codes:
        chosen = np.array([code in chosen for chosen in sets] + [False], dtype=bool)
        # Index -1 (missing) picks the extra last entry; np.where puts the -1 back.
        matrix = np.where(data.matrix >= 0, chosen[data.matrix].astype(np.int64), -1)
        option = _Data(matrix, data.coders, [False, True])
        options.append(
            _reliability(f"{variable}={code}", option, n_coders_seen, "nominal", samples, rng)
        )
    return dataclasses.replace(result, options=tuple(options))


def _observed_codes(sets: Iterable[frozenset[object]]) -> list[object]:
    return sorted({code for chosen in sets for code in chosen}, key=_sort_key)


def _as_set(value: object) -> frozenset[object]:
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(value)
    return frozenset({value})


def _sort_key(value: object) -> tuple[str, str]:
    return (
        type(value).__name__,
        repr(sorted(value, key=repr) if isinstance(value, frozenset) else value),
    )


def _coder_key(coder: Hashable) -> str:
    return str(coder)


@dataclass(frozen=True)
class _Data:
    """Pairable data of one variable: a coder × unit matrix of value indices, -1 for missing."""

    matrix: npt.NDArray[np.int64]
    coders: list[str]
    values: list[object]


def _encode(ratings: Ratings, level: str, domain: Sequence[object] | None) -> tuple[_Data, int]:
    """Keep the pairable units, index their values and return the data and the coder count."""
    coders_seen: set[Hashable] = set()
    units: list[dict[Hashable, object]] = []
    for by_coder in ratings.values():
        present = {coder: value for coder, value in by_coder.items() if value is not None}
        coders_seen.update(present)
        if len(present) >= 2:
            units.append(present)
    # Units and coders are put in a canonical order so results never depend on input order.
    coders = sorted({coder for unit in units for coder in unit}, key=_coder_key)
    normalise = _normaliser(level)
    if domain is not None and level != "masi":
        values = [normalise(value) for value in domain]
    else:
        values = sorted(
            {normalise(value) for unit in units for value in unit.values()}, key=_value_order(level)
        )
    if domain is not None and level == "masi":
        unknown = set().union(*values) - set(domain)
        if unknown:
            raise ValueError(
                f"codes {sorted(unknown, key=_sort_key)!r} are not in the value domain"
            )
    index = {value: i for i, value in enumerate(values)}
    row = {coder: i for i, coder in enumerate(coders)}
    matrix = np.full((len(coders), len(units)), -1, dtype=np.int64)
    for column, unit in enumerate(units):
        for coder, value in unit.items():
            normalised = normalise(value)
            try:
                matrix[row[coder], column] = index[normalised]
            except KeyError:
                raise ValueError(f"value {value!r} is not in the value domain") from None
    # Sort the units by their columns' content so that unit order cannot matter.
    if units:
        matrix = matrix[:, np.lexsort(matrix[::-1])]
    return _Data(matrix, [_coder_key(coder) for coder in coders], values), len(coders_seen)


def _normaliser(level: str) -> Any:
    if level == "masi":
        return _as_set
    if level in ("interval", "ratio"):
        return _as_number
    return _as_category


def _as_number(value: object) -> float:
    if isinstance(value, bool | int | float) and math.isfinite(value):
        return float(value)
    raise ValueError(f"expected a number, got {value!r}")


def _as_category(value: object) -> object:
    if isinstance(value, list | tuple | set | frozenset | dict):
        raise ValueError(f"expected a single code, got {value!r}")
    return value


def _value_order(level: str) -> Any:
    if level in ("interval", "ratio"):
        return lambda value: value
    return _sort_key


def _reliability(
    variable: str,
    data: _Data,
    n_coders_seen: int,
    level: str,
    samples: int,
    rng: np.random.Generator,
) -> VariableReliability:
    n_values = len(data.values)
    matrix = data.matrix
    n_units = matrix.shape[1]
    present = matrix >= 0
    # counts[u, v]: how many coders gave value v to unit u.
    counts = np.zeros((n_units, n_values), dtype=np.int64)
    units = np.broadcast_to(np.arange(n_units), matrix.shape)
    np.add.at(counts, (units[present], matrix[present]), 1)
    m_u = counts.sum(axis=1)
    n_pairable = int(m_u.sum())
    result = {
        "variable": variable,
        "level": level,
        "alpha": None,
        "ci95": None,
        "q_below": None,
        "n_units": n_units,
        "n_coders": len(data.coders),
        "n_pairable": n_pairable,
        "percent_agreement": None,
        "cohen_kappa": _cohen_kappas(data),
        "fleiss_kappa": None,
        "gwet_ac1": None,
        "undefined_reason": None,
    }
    if n_units == 0:
        result["undefined_reason"] = {0: NO_CODER, 1: SINGLE_CODER}.get(
            n_coders_seen, NO_PAIRABLE_UNIT
        )
        return VariableReliability(**result)

    # Coincidence matrix: o[c, k] = sum over units of n_uc (n_uk - [c = k]) / (m_u - 1).
    weighted = counts / (m_u - 1)[:, np.newaxis]
    o = counts.T.astype(np.float64) @ weighted
    o[np.diag_indices(n_values)] -= weighted.sum(axis=0)
    n_v = o.sum(axis=0)
    result["percent_agreement"] = float(np.trace(o) / n_pairable)
    if level in _CATEGORICAL_LEVELS:
        result["fleiss_kappa"] = _fleiss_kappa(counts, m_u)
        result["gwet_ac1"] = _gwet_ac1(counts, m_u, n_values)

    distance = _distances(level, data.values, n_v)
    expected = (np.outer(n_v, n_v) - np.diag(n_v)) / (n_pairable - 1)
    expected_disagreement = float((expected * distance).sum())
    if np.count_nonzero(n_v) < 2 or expected_disagreement <= 0:
        result["undefined_reason"] = NO_VARIATION
        return VariableReliability(**result)

    metric: Any = level
    value_domain: Any = np.arange(n_values)
    if level == "masi":
        metric = _matrix_metric(distance)
    elif level in ("interval", "ratio"):
        value_domain = np.asarray(data.values, dtype=np.float64)
    if n_units * n_values**2 <= _PACKAGE_CELLS:
        alpha = float(
            krippendorff.alpha(
                value_counts=counts, value_domain=value_domain, level_of_measurement=metric
            )
        )
    else:
        # The package builds a units × values × values array; with many distinct measurements
        # that runs out of memory, so use the same formula on the coincidence matrix above.
        alpha = 1.0 - float((o * distance).sum()) / expected_disagreement
    result["alpha"] = alpha
    if samples > 0:
        n_pairs = int((m_u * (m_u - 1) // 2).sum())
        boot = _bootstrap(o, distance, expected_disagreement / n_pairable, n_pairs, samples, rng)
        low, high = np.percentile(boot, [2.5, 97.5])
        result["ci95"] = (float(low), float(high))
        result["q_below"] = {minimum: float(np.mean(boot < minimum)) for minimum in MINIMUMS}
    return VariableReliability(**result)


def _matrix_metric(distance: FloatArray) -> Any:
    """Wrap a precomputed value × value distance matrix as a ``krippendorff`` metric."""

    def metric(v1: Any, v2: Any, i1: Any, i2: Any, n_v: Any, dtype: Any = np.float64) -> Any:
        return distance[i1, i2].astype(dtype)

    return metric


def _distances(level: str, values: list[object], n_v: FloatArray) -> FloatArray:
    """Return the squared difference function δ² for every pair of values."""
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "ordinal":
        # δ²(c, k) = (sum of n_g for g from c to k - (n_c + n_k) / 2)², Krippendorff (2011).
        cumulative = np.concatenate(([0.0], np.cumsum(n_v)))
        low = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
        high = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
        between = cumulative[high + 1] - cumulative[low]
        return (between - (n_v[low] + n_v[high]) / 2) ** 2
    if level == "masi":
        return np.array([[masi_distance(a, b) for b in values] for a in values])  # type: ignore[arg-type]
    numbers = np.asarray(values, dtype=np.float64)
    difference = np.subtract.outer(numbers, numbers)
    if level == "interval":
        return difference**2
    total = np.add.outer(numbers, numbers)
    ratio = np.divide(difference, total, out=np.zeros_like(difference), where=total != 0)
    return ratio**2


def _bootstrap(
    o: FloatArray,
    distance: FloatArray,
    expected_disagreement: float,
    n_pairs: int,
    samples: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Return ``samples`` bootstrap alphas, resampling value pairs as the KALPHA macro does.

    Krippendorff's "Algorithm for bootstrapping a distribution of alpha" (2006, rev. 2011), as
    used by the KALPHA macro (Hayes & Krippendorff 2007): each sample draws as many pairs of
    values as the data hold (sum of m_u (m_u - 1) / 2), each from the coincidence-matrix cell
    (c, k) with probability o_ck / n. A sample's observed disagreement is the mean δ² of its
    pairs; the expected disagreement stays that of the data. Gwet has argued that this
    narrows the interval when units have many coders; it is kept because it is the procedure
    content analysts report. Pairs with the same δ² are interchangeable, so the draw is a
    multinomial over the distinct δ² values.
    """
    cells = o.ravel()
    keep = cells > 0
    deltas, inverse = np.unique(distance.ravel()[keep], return_inverse=True)
    weights = np.bincount(inverse, weights=cells[keep])
    probabilities = weights / weights.sum()
    draws = max(1, n_pairs)
    if len(deltas) <= 64:
        picked = rng.multinomial(draws, probabilities, size=samples)
        observed = picked @ deltas / draws
    else:
        # Many distinct differences (interval data with many values): draw pair indices.
        cumulative = np.cumsum(probabilities)
        observed = np.empty(samples)
        rows = max(1, 2_000_000 // draws)  # bound the memory of one chunk of draws
        for start in range(0, samples, rows):
            stop = min(samples, start + rows)
            picks = np.searchsorted(cumulative, rng.random((stop - start, draws)), side="right")
            observed[start:stop] = deltas[np.minimum(picks, len(deltas) - 1)].mean(axis=1)
    return 1.0 - observed / expected_disagreement


def _cohen_kappas(data: _Data) -> dict[str, float | None]:
    """Return Cohen's kappa for every pair of coders with a unit in common, keyed "A|B"."""
    kappas: dict[str, float | None] = {}
    matrix, n_values = data.matrix, max(1, len(data.values))
    for first in range(len(data.coders)):
        for second in range(first + 1, len(data.coders)):
            both = (matrix[first] >= 0) & (matrix[second] >= 0)
            n = int(both.sum())
            if not n:
                continue
            a, b = matrix[first, both], matrix[second, both]
            observed = float(np.mean(a == b))
            expected = float(
                np.bincount(a, minlength=n_values) @ np.bincount(b, minlength=n_values)
            ) / (n * n)
            key = f"{data.coders[first]}|{data.coders[second]}"
            kappas[key] = None if expected >= 1 else (observed - expected) / (1 - expected)
    return kappas


def _fleiss_kappa(counts: npt.NDArray[np.int64], m_u: npt.NDArray[np.int64]) -> float | None:
    """Return Fleiss' (1971) kappa, defined only when every unit has the same number of coders."""
    if len(m_u) == 0 or np.any(m_u != m_u[0]):
        return None
    raters = int(m_u[0])
    agreement = ((counts * (counts - 1)).sum(axis=1) / (raters * (raters - 1))).mean()
    shares = counts.sum(axis=0) / counts.sum()
    expected = float((shares**2).sum())
    if expected >= 1:
        return None
    return float((agreement - expected) / (1 - expected))


def _gwet_ac1(
    counts: npt.NDArray[np.int64], m_u: npt.NDArray[np.int64], n_categories: int
) -> float | None:
    """Return Gwet's AC1 for any number of coders (Gwet 2008, eq. 14 and 15)."""
    if n_categories < 2:
        return None
    agreement = ((counts * (counts - 1)).sum(axis=1) / (m_u * (m_u - 1))).mean()
    shares = (counts / m_u[:, np.newaxis]).mean(axis=0)
    expected = float((shares * (1 - shares)).sum() / (n_categories - 1))
    if expected >= 1:
        return None
    return float((agreement - expected) / (1 - expected))
