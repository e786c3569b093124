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

``variable_reliability`` (and ``reliability`` for a codebook variable) gives every coefficient
from the ratings mappings. ``alpha_from_matrix(matrix, level="nominal", domain=None)`` gives
alpha alone from a coders × units float array with nan for missing values, the input of
``krippendorff.alpha(reliability_data=...)``, for callers that already hold such an array.
This module imports no Flask.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import is_not
from typing import Any

import krippendorff
import numpy as np
import numpy.typing as npt

from annotator.codebook import Variable, VariableType

__all__ = [
    "LEVELS",
    "MINIMUMS",
    "VariableReliability",
    "alpha_from_matrix",
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

# alpha_from_matrix indexes whole-number values spanning fewer than this through a table.
_LOOKUP_SIZE = 65_536
# At most this many candidate codes take the comparison path of alpha_from_matrix.
_FEW_CODES = 16
# Cohen's kappa handles coder pairs in chunks of at most this many pairs × units.
_PAIR_CELLS = 4_000_000

# Keys are any hashable unit and coder names; Any because Mapping is invariant in its key type.
Ratings = Mapping[Any, Mapping[Any, object]]
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
        # Stored yes/no labels enter the ratings as "no"/"yes", as they do from a CSV file.
        domain = ("no", "yes")
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
        option = _Data(
            matrix,
            data.coders,
            [False, True],
            [code in single for single in data.singles],  # type: ignore[operator]
        )
        options.append(
            _reliability(f"{variable}={code}", option, n_coders_seen, "nominal", samples, rng)
        )
    return dataclasses.replace(result, options=tuple(options))


def alpha_from_matrix(
    matrix: npt.ArrayLike, level: str = "nominal", domain: Sequence[float] | None = None
) -> float | None:
    """Return Krippendorff's alpha of a coders × units array of numbers, nan for missing.

    The input ``krippendorff.alpha(reliability_data=...)`` takes, for callers that hold their
    data as an array: no per-value Python work, so it suits large data sets and repeated
    calls. Alpha is computed from the coincidence matrix (Krippendorff 2011) rather than by
    the package; it is the alpha of ``variable_reliability`` on the same data up to rounding
    in the last digits, and None where that is None. Levels: nominal, ordinal, interval and
    ratio, with codes or measurements as numbers. ``domain`` is the ordered value domain;
    without it the values met are used in ascending order (for ordinal data, the ranks).
    """
    if level not in LEVELS or level == "masi":
        raise ValueError(
            f"alpha_from_matrix takes nominal, ordinal, interval or ratio, not {level!r}"
        )
    data = np.asarray(matrix, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"expected a coders × units array, got {data.ndim} dimension(s)")
    counted = _few_code_counts(data, domain)
    if counted is not None:
        # Values × units here (the transpose of the general path's layout): every sum then
        # runs along contiguous rows.
        by_value, candidates = counted
        m_u = by_value.sum(axis=0, dtype=np.int64)
        pairable = m_u >= 2
        if not pairable.any():
            return None
        if not pairable.all():
            by_value, m_u = by_value[:, pairable], m_u[pairable]
        weighted = by_value / (m_u - 1)
        o = by_value.astype(np.float64) @ weighted.T
        o[np.diag_indices(len(candidates))] -= weighted.sum(axis=1)
        alpha, _, _ = _alpha(
            level, candidates.tolist(), by_value.T, o, int(m_u.sum()), by_package=False
        )
        return alpha
    present = ~np.isnan(data)
    pairable = np.count_nonzero(present, axis=0) >= 2
    if not pairable.all():
        data, present = data[:, pairable], present[:, pairable]
    n_units = data.shape[1]
    if n_units == 0:
        return None
    # Row-major order on both sides: each observed value with its unit.
    observed = data[present]
    columns = np.broadcast_to(np.arange(n_units), data.shape)[present]
    if not np.isfinite(observed).all():
        raise ValueError("expected finite numbers or nan (missing)")
    values: FloatArray
    if domain is None:
        values = np.unique(observed)
        low, high = (values[0], values[-1]) if len(values) else (0.0, 0.0)
        if high - low < _LOOKUP_SIZE and np.array_equal(values, np.round(values)):
            # Whole numbers in a short range, as codes usually are: a table look-up.
            table = np.zeros(int(high - low) + 1, dtype=np.int64)
            table[(values - low).astype(np.intp)] = np.arange(len(values))
            codes = table[(observed - low).astype(np.intp)]
        else:
            codes = np.searchsorted(values, observed)
    else:
        values = np.asarray(domain, dtype=np.float64)
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        at = np.minimum(np.searchsorted(ordered, observed), len(ordered) - 1)
        unknown = ordered[at] != observed
        if unknown.any():
            raise ValueError(f"value {float(observed[unknown][0])!r} is not in the value domain")
        codes = order[at]
    n_values = len(values)
    counts = np.bincount(columns * n_values + codes, minlength=n_units * n_values).reshape(
        n_units, n_values
    )
    m_u = counts.sum(axis=1)
    o = _coincidence_matrix(counts, m_u)
    alpha, _, _ = _alpha(level, values.tolist(), counts, o, int(m_u.sum()), by_package=False)
    return alpha


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
    # The normalised values of the units coded once: they enter only Gwet's category shares.
    singles: list[object] = field(default_factory=list)


def _encode(ratings: Ratings, level: str, domain: Sequence[object] | None) -> tuple[_Data, int]:
    """Keep the pairable units, index their values and return the data and the coder count."""
    # Flatten every (unit, coder, value) once, then work on arrays: per-value Python work is
    # limited to C-level list building, and each distinct raw value is normalised only once.
    by_unit = list(ratings.values())
    sizes = np.fromiter(map(len, by_unit), dtype=np.int64, count=len(by_unit))
    all_coders = list(chain.from_iterable(by_unit))
    all_values = list(chain.from_iterable(by_coder.values() for by_coder in by_unit))
    present = np.fromiter(map(is_not, all_values, repeat(None)), dtype=bool, count=len(all_values))
    unit_of = np.repeat(np.arange(len(by_unit)), sizes)
    coders_seen = len(set(compress(all_coders, present.tolist())))
    # Only units with at least two values are pairable; nothing else is looked at.
    per_unit = np.bincount(unit_of[present], minlength=len(by_unit))
    pairable = per_unit >= 2
    kept = np.flatnonzero(present & pairable[unit_of])
    column = (np.cumsum(pairable) - 1)[unit_of[kept]]
    kept_list = kept.tolist()
    kept_coders = [all_coders[i] for i in kept_list]
    kept_values = [all_values[i] for i in kept_list]

    # Units and coders are put in a canonical order so results never depend on input order.
    coders = sorted(_added_in_order(dict.fromkeys(kept_coders)), key=_coder_key)
    row = {coder: i for i, coder in enumerate(coders)}
    normalise = _normaliser(level)
    given: dict[object, int] | None = None
    if domain is not None and level != "masi":
        values = [normalise(value) for value in domain]
        given = {value: i for i, value in enumerate(values)}
    # Each distinct value gets a provisional index in the order it is first met; ``found``
    # keeps the first of equal normalised values, as a set built in that order would.
    found: dict[object, int] = {}
    codes = _value_codes(kept_values, level, normalise, given, found)
    if given is None:
        values = sorted(_added_in_order(found), key=_value_order(level))
    if domain is not None and level == "masi":
        unknown = set().union(*values) - set(domain)
        if unknown:
            raise ValueError(
                f"codes {sorted(unknown, key=_sort_key)!r} are not in the value domain"
            )
    if given is None:
        index = {value: i for i, value in enumerate(values)}
        final = np.array([index[value] for value in found], dtype=np.int64)
        codes = final[codes]
    matrix = np.full((len(coders), int(pairable.sum())), -1, dtype=np.int64)
    coder_rows = np.fromiter(map(row.__getitem__, kept_coders), np.int64, len(kept_coders))
    matrix[coder_rows, column] = codes
    # Sort the units by their columns' content so that unit order cannot matter.
    if matrix.shape[1]:
        # A compact copy sorts faster and in the same order.
        matrix = matrix[:, np.lexsort(matrix[::-1].astype(_index_dtype(len(values))))]
    once = np.flatnonzero(present & (per_unit == 1)[unit_of]).tolist()
    singles = [normalise(all_values[i]) for i in once]
    if given is not None:
        for raw, single in zip((all_values[i] for i in once), singles, strict=True):
            if single not in given:
                raise ValueError(f"value {raw!r} is not in the value domain")
    return _Data(matrix, [_coder_key(coder) for coder in coders], values, singles), coders_seen


def _added_in_order(items: Iterable[Hashable]) -> set[Hashable]:
    """Return a set built by adding ``items`` one by one.

    Its iteration order, which breaks ties when sorting, is then that of a set built from the
    data element by element (``set(items)`` may size its table differently).
    """
    result: set[Hashable] = set()
    for item in items:
        result.add(item)
    return result


def _value_codes(
    raw: list[object],
    level: str,
    normalise: Any,
    given: dict[object, int] | None,
    found: dict[object, int],
) -> npt.NDArray[np.int64]:
    """Return an index for each raw value: into ``given`` or else a provisional one in ``found``.

    Raises the error of the first value (in order) that does not normalise or is not given.
    """

    def code(value: object) -> int:
        normalised = normalise(value)
        if given is None:
            return found.setdefault(normalised, len(found))
        try:
            return given[normalised]
        except KeyError:
            raise ValueError(f"value {value!r} is not in the value domain") from None

    keys = raw
    if level == "masi":
        # Lists of codes are the usual multiple-choice value: key them by their tuple, which
        # normalises to the same set.
        keys = [tuple(value) if type(value) is list else value for value in raw]
    try:
        distinct = dict.fromkeys(keys)
    except TypeError:
        # An unhashable raw value: normalise every value in turn.
        return np.fromiter(map(code, raw), dtype=np.int64, count=len(raw))
    # Keys compare equal only when their normalised values do; the first of each is kept.
    memo = {key: code(key) for key in distinct}
    return np.fromiter(map(memo.__getitem__, keys), dtype=np.int64, count=len(keys))


def _index_dtype(n_values: int) -> type[np.signedinteger[Any]]:
    """Return the smallest integer type that holds the value indices and -1."""
    if n_values <= np.iinfo(np.int8).max:
        return np.int8
    if n_values <= np.iinfo(np.int16).max:
        return np.int16
    return np.int64


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
    units = np.broadcast_to(np.arange(n_units), matrix.shape)
    counts = np.bincount(
        units[present] * n_values + matrix[present], minlength=n_units * n_values
    ).reshape(n_units, n_values)
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

    o = _coincidence_matrix(counts, m_u)
    result["percent_agreement"] = float(np.trace(o) / n_pairable)
    if level in _CATEGORICAL_LEVELS:
        result["fleiss_kappa"] = _fleiss_kappa(counts, m_u)
        result["gwet_ac1"] = _gwet_ac1(counts, m_u, data.values, data.singles)

    alpha, distance, expected_disagreement = _alpha(level, data.values, counts, o, n_pairable)
    if alpha is None:
        result["undefined_reason"] = NO_VARIATION
        return VariableReliability(**result)
    result["alpha"] = alpha
    if samples > 0:
        n_pairs = int((m_u * (m_u - 1) // 2).sum())
        boot = _bootstrap(o, distance, expected_disagreement / n_pairable, n_pairs, samples, rng)
        low, high = np.percentile(boot, [2.5, 97.5])
        result["ci95"] = (float(low), float(high))
        result["q_below"] = {minimum: float(np.mean(boot < minimum)) for minimum in MINIMUMS}
    return VariableReliability(**result)


def _few_code_counts(
    data: FloatArray, domain: Sequence[float] | None
) -> tuple[npt.NDArray[np.int16], FloatArray] | None:
    """Values × units counts when the values are a few whole numbers, else None.

    Codes usually are: one comparison of the whole array per candidate value is then
    several times faster than gathering the observed values and their units. Values
    nobody used are dropped (they change no coefficient). Returns None, for the general
    path to handle, when there are many candidate values or values outside ``domain``.
    """
    n_present = int(np.count_nonzero(~np.isnan(data)))
    if n_present == 0 or data.shape[0] > np.iinfo(np.int16).max:
        return None
    if domain is None:
        low, high = float(np.nanmin(data)), float(np.nanmax(data))
        if not (math.isfinite(low) and math.isfinite(high)) or high - low >= _FEW_CODES:
            return None
        # Values between whole numbers match no candidate, and the totals below tell.
        candidates = np.arange(math.ceil(low), math.floor(high) + 1, dtype=np.float64)
    else:
        candidates = np.asarray(domain, dtype=np.float64)
        if len(candidates) > _FEW_CODES:
            return None
    if len(candidates) == 0:
        return None
    # Summing booleans as int8 into an int16 accumulator is several times faster than the
    # default int64 sum; a unit has at most as many values as there are coders.
    by_value = np.stack(
        [(data == value).view(np.int8).sum(axis=0, dtype=np.int16) for value in candidates]
    )
    totals = by_value.sum(axis=1, dtype=np.int64)
    if int(totals.sum()) != n_present:
        return None  # values other than the candidates: the general path handles them
    if domain is None and not totals.all():
        used = totals > 0
        by_value, candidates = by_value[used], candidates[used]
    return by_value, candidates


def _coincidence_matrix(counts: npt.NDArray[np.int64], m_u: npt.NDArray[np.int64]) -> FloatArray:
    """Return o[c, k] = sum over units of n_uc (n_uk - [c = k]) / (m_u - 1)."""
    weighted = counts / (m_u - 1)[:, np.newaxis]
    o = counts.T.astype(np.float64) @ weighted
    o[np.diag_indices(counts.shape[1])] -= weighted.sum(axis=0)
    return o


def _alpha(
    level: str,
    values: Sequence[object],
    counts: npt.NDArray[np.integer[Any]],
    o: FloatArray,
    n_pairable: int,
    *,
    by_package: bool = True,
) -> tuple[float | None, FloatArray, float]:
    """Return alpha (None without variation), δ² and the expected disagreement.

    Alpha comes from the ``krippendorff`` package when ``by_package`` and the data are small
    enough for its memory use, and otherwise from the same formula on ``o``.
    """
    n_values = len(values)
    n_v = o.sum(axis=0)
    distance = _distances(level, list(values), n_v)
    expected = (np.outer(n_v, n_v) - np.diag(n_v)) / (n_pairable - 1)
    expected_disagreement = float((expected * distance).sum())
    if np.count_nonzero(n_v) < 2 or expected_disagreement <= 0:
        return None, distance, expected_disagreement

    metric: Any = level
    value_domain: Any = np.arange(n_values)
    if level == "masi":
        metric = _matrix_metric(distance)
    elif level in ("interval", "ratio"):
        value_domain = np.asarray(values, dtype=np.float64)
    if by_package and len(counts) * n_values**2 <= _PACKAGE_CELLS:
        alpha = float(
            krippendorff.alpha(
                value_counts=counts, value_domain=value_domain, level_of_measurement=metric
            )
        )
    else:
        # The package builds a units × values × values array; with many distinct measurements
        # that runs out of memory, so use the same formula on the coincidence matrix. It is
        # also the quicker way, which alpha_from_matrix takes.
        alpha = 1.0 - float((o * distance).sum()) / expected_disagreement
    return alpha, distance, expected_disagreement


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
    compact = matrix.astype(_index_dtype(n_values))
    pairs = np.triu_indices(len(data.coders), 1)
    step = max(1, _PAIR_CELLS // max(1, matrix.shape[1]))
    for start in range(0, len(pairs[0]), step):
        firsts, seconds = pairs[0][start : start + step], pairs[1][start : start + step]
        n, agreed, chance = _pair_counts(compact[firsts], compact[seconds], n_values)
        for first, second, pair_n, pair_agreed, pair_chance in zip(
            firsts.tolist(),
            seconds.tolist(),
            n.tolist(),
            agreed.tolist(),
            chance.tolist(),
            strict=True,
        ):
            if not pair_n:
                continue
            # The same float operations as mean(a == b) and bincount(a) @ bincount(b) / n².
            observed = pair_agreed / pair_n
            expected = float(pair_chance) / (pair_n * pair_n)
            key = f"{data.coders[first]}|{data.coders[second]}"
            kappas[key] = None if expected >= 1 else (observed - expected) / (1 - expected)
    return kappas


def _pair_counts(
    a: npt.NDArray[np.signedinteger[Any]], b: npt.NDArray[np.signedinteger[Any]], n_values: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return, for pairs of coder rows a[i] and b[i], the exact integer counts of Cohen's kappa.

    Per pair: the units both coded, those they agree on, and the sum over values of the two
    coders' counts of that value on the units both coded (the chance agreement times n²).
    """
    both = (a >= 0) & (b >= 0)
    n = np.count_nonzero(both, axis=1)
    agreed = np.count_nonzero((a == b) & both, axis=1)
    # Each coder's value counts per pair; cells outside ``both`` go to a last bin, dropped.
    size = len(a) * n_values
    offset = np.arange(0, size, n_values, dtype=np.int64)[:, np.newaxis]
    counts_a = np.bincount(np.where(both, a + offset, size).ravel(), minlength=size + 1)
    counts_b = np.bincount(np.where(both, b + offset, size).ravel(), minlength=size + 1)
    chance = (counts_a[:size] * counts_b[:size]).reshape(-1, n_values).sum(axis=1)
    return n, agreed, chance


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
    counts: npt.NDArray[np.int64],
    m_u: npt.NDArray[np.int64],
    values: Sequence[object],
    singles: Sequence[object] = (),
) -> float | None:
    """Return Gwet's AC1 for any number of coders (Gwet 2008, eq. 14 and 15).

    As in Gwet's handbook and his irrCAC software, agreement is averaged over the units with
    two or more values, but the category shares π_k over every unit with a value: a unit
    coded once adds its value to the shares. Values met only in such units count as further
    categories when there is no value domain.
    """
    index = {value: i for i, value in enumerate(values)}
    extra: dict[object, int] = {}
    single_codes = [
        index[value] if value in index else len(values) + extra.setdefault(value, len(extra))
        for value in singles
    ]
    n_categories = len(values) + len(extra)
    if n_categories < 2:
        return None
    agreement = ((counts * (counts - 1)).sum(axis=1) / (m_u * (m_u - 1))).mean()
    share_sums = np.zeros(n_categories)
    share_sums[: len(values)] = (counts / m_u[:, np.newaxis]).sum(axis=0)
    share_sums += np.bincount(np.asarray(single_codes, dtype=np.int64), minlength=n_categories)
    shares = share_sums / (len(m_u) + len(single_codes))
    expected = float((shares * (1 - shares)).sum() / (n_categories - 1))
    if expected >= 1:
        return None
    return float((agreement - expected) / (1 - expected))
