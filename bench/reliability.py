"""Benchmark: the reliability of a whole codebook, and alpha beside krippendorff and NLTK.

Targets (docs/benchmarks.md), on generated data: 5,000 units coded by 10 coders on a
codebook of 40 variables of mixed levels, 20 % of the values missing.

* Every coefficient of every variable (alpha, the 95 % interval and q from 1,000 bootstrap
  samples, percent agreement, Cohen's kappa for every pair of coders, Fleiss' kappa, Gwet's
  AC1, and for multiple-choice variables the binary alpha of each option): under 2 s
  (median of --repeat runs).
* Nominal alpha of one variable, in the same run on the same data: at most 1.5 times the
  bare ``krippendorff.alpha`` call on a coders × units array, and at least 100 times
  faster than NLTK's ``AnnotationTask.alpha()``.

    .venv/bin/pip install -e '.[bench]'                 # NLTK, for the comparison
    .venv/bin/python bench/reliability.py
    .venv/bin/python bench/reliability.py --repeat 9 --units 20000 --seed 7
    .venv/bin/python bench/reliability.py --profile     # cProfile of one codebook run

The comparison times each side from two starting points. From the ratings mappings
(``{unit: {coder: value}}``, what the app holds), conversion included: ours is
``variable_reliability`` with ``samples=0`` (every coefficient but the bootstrap: alpha,
percent agreement, Cohen's kappa of the 45 pairs, Fleiss, Gwet); krippendorff and NLTK
include building their input from the same mappings (a float array with nan for missing; a
list of (coder, unit, value) triples). From prepared input, conversion excluded: ours is
``alpha_from_matrix`` on the same coders × units array that
``krippendorff.alpha(reliability_data=...)`` gets, and NLTK is
``AnnotationTask(data=triples).alpha()`` on prebuilt triples (constructor included). All
alphas must agree to 1e-9. Both targets are judged from prepared input, where what is
timed is the computation of alpha; the ratios from the ratings mappings are printed too.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNITS = 5000
CODERS = 10
MISSING = 0.2
SAMPLES = 1000
REPEAT = 5
# Fast calls are timed this many times more often than the codebook run, for a stable median.
FAST_REPEAT_FACTOR = 20
CODEBOOK_TARGET_S = 2.0
KRIPPENDORFF_RATIO_TARGET = 1.5
NLTK_RATIO_TARGET = 100.0
# NLTK is timed on a subset of units when one full variable takes longer than this.
NLTK_FULL_LIMIT_S = 120.0
TOLERANCE = 1e-9
COMPARED = "topic"  # the nominal variable of the side-by-side comparison

# (name, level, options) of the generated codebook; options are the number of codes, or for
# interval variables the largest value (0 to n). Yes/no variables are nominal "no"/"yes",
# as the app passes them.
NOMINAL_OPTIONS = (5, 2, 3, 4, 6, 7, 8, 2, 3, 4, 5, 2, 3, 6, 4, 8, 3, 5, 2, 7, 4, 3)
YES_NO = 6
ORDINAL_POINTS = (3, 4, 5, 5, 5, 7)
INTERVAL_MAXIMA = (10, 10, 40, 40)
MASI_OPTIONS = (5, 5)


@dataclass(frozen=True)
class Spec:
    """One variable of the generated codebook."""

    name: str
    level: str
    domain: tuple[object, ...] | None
    accuracy: float  # the chance that a coder gives the unit's true value


def make_codebook(rng: np.random.Generator) -> list[Spec]:
    """The 40 variables: 28 nominal (6 of them yes/no), 6 ordinal, 4 interval, 2 MASI."""
    specs: list[Spec] = []

    def accuracy() -> float:
        return float(rng.uniform(0.7, 0.95))

    for number, options in enumerate(NOMINAL_OPTIONS):
        name = COMPARED if number == 0 else f"nominal_{number:02d}"
        codes = tuple(f"{name}_{code}" for code in range(1, options + 1))
        specs.append(Spec(name, "nominal", codes, accuracy()))
    for number in range(YES_NO):
        specs.append(Spec(f"yes_no_{number:02d}", "nominal", ("no", "yes"), accuracy()))
    for number, points in enumerate(ORDINAL_POINTS):
        specs.append(
            Spec(f"ordinal_{number:02d}", "ordinal", tuple(range(1, points + 1)), accuracy())
        )
    for number, maximum in enumerate(INTERVAL_MAXIMA):
        specs.append(Spec(f"interval_{number:02d}", "interval", (maximum,), accuracy()))
    for number, options in enumerate(MASI_OPTIONS):
        name = f"multiple_{number:02d}"
        codes = tuple(f"{name}_{code}" for code in range(1, options + 1))
        specs.append(Spec(name, "masi", codes, accuracy()))
    return specs


def make_values(
    spec: Spec, rng: np.random.Generator, units: int, coders: int
) -> list[list[object]]:
    """Coders × units values: a true value per unit, each coder deviating with some chance."""
    shape = (coders, units)
    deviates = rng.random(shape) > spec.accuracy
    missing = rng.random(shape) < MISSING
    assert spec.domain is not None
    if spec.level == "masi":
        # Each code is chosen for a unit with its own share; a deviating coder flips codes.
        shares = rng.uniform(0.1, 0.5, len(spec.domain))
        truth = rng.random((units, len(spec.domain))) < shares
        flips = (rng.random((coders, units, len(spec.domain))) < 0.3) & deviates[..., None]
        chosen = truth[None, :, :] ^ flips
        codes = np.array(spec.domain, dtype=object)
        rows: list[list[object]] = [
            [None if missing[c, u] else list(codes[chosen[c, u]]) for u in range(units)]
            for c in range(coders)
        ]
        return rows
    if spec.level == "interval":
        maximum = int(spec.domain[0])  # type: ignore[call-overload]
        true_numbers = np.round(rng.gamma(2.0, maximum / 6, units)).clip(0, maximum)
        noise = np.round(rng.normal(0, max(1.0, maximum / 10), shape))
        numbers = np.where(deviates, (true_numbers + noise).clip(0, maximum), true_numbers)
        grid: list[list[object]] = numbers.astype(np.int64).tolist()
    else:
        size = len(spec.domain)
        # Codes are not equally common in real data.
        true_index = rng.choice(size, units, p=rng.dirichlet(np.full(size, 2.0)))
        if spec.level == "ordinal":
            step = rng.choice((-1, 1), shape)
            other = (true_index + step).clip(0, size - 1)
        else:
            other = rng.integers(0, size, shape)
        index = np.where(deviates, other, true_index)
        domain = list(spec.domain)
        grid = [[domain[i] for i in row] for row in index.tolist()]
    return [
        [None if gone else value for value, gone in zip(row, gaps, strict=True)]
        for row, gaps in zip(grid, missing.tolist(), strict=True)
    ]


def as_ratings(
    values: list[list[object]], unit_names: Sequence[str], coder_names: Sequence[str]
) -> dict[str, dict[str, object]]:
    """The app's shape: {unit: {coder: value}}, None for missing."""
    return {
        unit: {coder: values[c][u] for c, coder in enumerate(coder_names)}
        for u, unit in enumerate(unit_names)
    }


def make_data(
    units: int, seed: int
) -> tuple[list[Spec], dict[str, dict[str, dict[str, object]]], list[str]]:
    """The codebook, the ratings of every variable and the coders' names."""
    rng = np.random.default_rng(seed)
    specs = make_codebook(rng)
    unit_names = [f"doc-{u:05d}" for u in range(1, units + 1)]
    coder_names = [f"coder{c:02d}" for c in range(1, CODERS + 1)]
    ratings = {
        spec.name: as_ratings(make_values(spec, rng, units, CODERS), unit_names, coder_names)
        for spec in specs
    }
    return specs, ratings, coder_names


def engine_domain(spec: Spec) -> tuple[object, ...] | None:
    """The domain the app passes: the options (yes/no: False, True); none for numbers."""
    return None if spec.level == "interval" else spec.domain


def run_codebook(
    specs: list[Spec], ratings: dict[str, dict[str, dict[str, object]]], seed: int
) -> list[Any]:
    """Every coefficient of every variable, with the bootstrap."""
    from annotator.reliability import variable_reliability

    return [
        variable_reliability(
            spec.name,
            ratings[spec.name],
            spec.level,
            engine_domain(spec),
            samples=SAMPLES,
            seed=seed,
        )
        for spec in specs
    ]


def timed(work: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median wall time of ``repeat`` calls (seconds) and the last call's result."""
    times = []
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def to_array(
    ratings: dict[str, dict[str, object]], coders: Sequence[str], numbers: dict[object, float]
) -> np.ndarray:
    """A coders × units float array with nan for missing, as ``krippendorff.alpha`` takes."""
    nan = math.nan
    return np.array(
        [
            [nan if (value := by.get(coder)) is None else numbers[value] for by in ratings.values()]
            for coder in coders
        ],
        dtype=np.float64,
    )


def to_triples(ratings: dict[str, dict[str, object]]) -> list[tuple[str, str, object]]:
    """(coder, unit, value) triples without the missing values, as NLTK takes."""
    return [
        (coder, unit, value)
        for unit, by in ratings.items()
        for coder, value in by.items()
        if value is not None
    ]


def nltk_alpha(triples: list[tuple[str, str, object]]) -> float:
    """NLTK's nominal alpha (binary distance, its default)."""
    from nltk.metrics.agreement import AnnotationTask

    return float(AnnotationTask(data=triples).alpha())


def profile(label: str, work: Callable[[], object]) -> None:
    """Run work under cProfile and print the 25 most costly functions (cumulative)."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    print(f"\n--- profile: {label} ---")
    pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(25)


def verdict(ok: bool) -> str:
    """The word printed for a target."""
    return "met" if ok else "NOT MET"


def compare(
    spec: Spec, ratings: dict[str, dict[str, object]], coders: list[str], repeat: int
) -> bool:
    """Nominal alpha of one variable: ours, bare krippendorff and NLTK; True if targets met."""
    import krippendorff

    from annotator.reliability import alpha_from_matrix, variable_reliability

    assert spec.domain is not None
    numbers = {code: float(i) for i, code in enumerate(spec.domain)}
    fast = repeat * FAST_REPEAT_FACTOR

    def ours_from_ratings() -> float | None:
        return variable_reliability(spec.name, ratings, "nominal", spec.domain, samples=0).alpha

    def krippendorff_from_ratings() -> float:
        array = to_array(ratings, coders, numbers)
        return float(krippendorff.alpha(reliability_data=array, level_of_measurement="nominal"))

    def nltk_from_ratings() -> float:
        return nltk_alpha(to_triples(ratings))

    array = to_array(ratings, coders, numbers)
    triples = to_triples(ratings)

    def ours_from_array() -> float | None:
        return alpha_from_matrix(array, "nominal")

    def krippendorff_bare() -> float:
        return float(krippendorff.alpha(reliability_data=array, level_of_measurement="nominal"))

    # NLTK once on the full variable (also its warm-up), to see how often it can be repeated.
    start = time.perf_counter()
    nltk_value = nltk_alpha(triples)
    nltk_once = time.perf_counter() - start
    nltk_repeat = repeat if nltk_once * repeat < NLTK_FULL_LIMIT_S else 1
    if nltk_once > NLTK_FULL_LIMIT_S:
        raise SystemExit(f"NLTK took {nltk_once:.0f} s on one variable; run with fewer --units")

    rows = [
        ("ours", "variable_reliability(samples=0)", ours_from_ratings, fast),
        ("krippendorff", "to array + alpha()", krippendorff_from_ratings, fast),
        ("NLTK", "to triples + AnnotationTask().alpha()", nltk_from_ratings, nltk_repeat),
        ("ours", "alpha_from_matrix(array)", ours_from_array, fast),
        ("krippendorff", "alpha(reliability_data=array)", krippendorff_bare, fast),
        ("NLTK", "AnnotationTask(triples).alpha()", lambda: nltk_alpha(triples), nltk_repeat),
    ]
    times: dict[str, float] = {}
    alphas = [nltk_value]
    print(
        f"\nnominal alpha of {spec.name!r} ({len(spec.domain)} codes, {len(ratings):,} units, "
        f"{len(triples):,} values); median of n calls:"
    )
    for number, (who, what, work, count) in enumerate(rows):
        if number == 0:
            print("  from the ratings mappings (conversion included):")
        elif number == 3:
            print("  from prepared input (conversion excluded):")
        seconds, value = timed(work, count)
        assert isinstance(value, float)
        alphas.append(value)
        times[f"{who} {number // 3}"] = seconds
        print(f"    {who:<13} {what:<40} {seconds * 1000:9.2f} ms  (n={count}) alpha {value:.12f}")
    spread = max(alphas) - min(alphas)
    assert spread <= TOLERANCE, f"the alphas differ by {spread:g}"
    print(f"  all {len(alphas)} alphas agree (largest difference {spread:.1e})")

    for label, key in (("from the ratings mappings", "0"), ("from prepared input", "1")):
        kripp_ratio = times[f"ours {key}"] / times[f"krippendorff {key}"]
        nltk_ratio = times[f"NLTK {key}"] / times[f"ours {key}"]
        print(f"  {label}: ours / krippendorff = {kripp_ratio:.2f}, NLTK / ours = {nltk_ratio:.1f}")
    # Both targets are judged from prepared input: each library gets the data in its own
    # input form, built before the clock starts, so what is timed is the computation of alpha.
    # From the ratings mappings, walking 40,000 Python values costs about the same on every
    # side and hides the difference; those ratios are printed above.
    kripp_ratio = times["ours 1"] / times["krippendorff 1"]
    kripp_ok = kripp_ratio <= KRIPPENDORFF_RATIO_TARGET
    print(
        f"ours (alpha_from_matrix) within {KRIPPENDORFF_RATIO_TARGET} × the bare "
        f"krippendorff.alpha call: {kripp_ratio:.2f} × — target {verdict(kripp_ok)}"
    )
    nltk_ratio = times["NLTK 1"] / times["ours 1"]
    nltk_ok = nltk_ratio >= NLTK_RATIO_TARGET
    print(
        f"ours (alpha_from_matrix) at least {NLTK_RATIO_TARGET:.0f} × faster than NLTK's "
        f"AnnotationTask(triples).alpha(): {nltk_ratio:.1f} × — target {verdict(nltk_ok)}"
    )
    ok = kripp_ok and nltk_ok
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs per median (odd)")
    parser.add_argument("--units", type=int, default=UNITS)
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and bootstrap")
    parser.add_argument("--profile", action="store_true", help="cProfile of one codebook run")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"load average (1 min) {load:.2f}"
    )
    start = time.perf_counter()
    specs, ratings, coders = make_data(args.units, args.seed)
    counts: dict[str, int] = {}
    for spec in specs:
        counts[spec.level] = counts.get(spec.level, 0) + 1
    print(
        f"data: {args.units:,} units × {CODERS} coders × {len(specs)} variables "
        f"({', '.join(f'{n} {level}' for level, n in counts.items())}), "
        f"{MISSING:.0%} missing; generated in {time.perf_counter() - start:.1f} s"
    )

    run_codebook(specs, ratings, args.seed)  # warm-up: imports and first-call costs
    seconds, results = timed(lambda: run_codebook(specs, ratings, args.seed), args.repeat)
    assert isinstance(results, list)
    alphas = [r.alpha for r in results if r.alpha is not None]
    print(
        f"whole codebook ({len(specs)} variables, every coefficient, {SAMPLES:,} bootstrap "
        f"samples each): median {seconds:.3f} s over {args.repeat} runs; alphas "
        f"{min(alphas):.3f} to {max(alphas):.3f}"
    )
    codebook_ok = seconds < CODEBOOK_TARGET_S
    print(f"target < {CODEBOOK_TARGET_S:.0f} s: {verdict(codebook_ok)}")

    spec = next(s for s in specs if s.name == COMPARED)
    compare_ok = compare(spec, ratings[spec.name], coders, args.repeat)

    if args.profile:
        profile("one codebook run", lambda: run_codebook(specs, ratings, args.seed))
    sys.exit(0 if codebook_ok and compare_ok else 1)


if __name__ == "__main__":
    main()
