"""Tests for the reliability sample-size planner: published table values, bad input, monotonicity."""

from __future__ import annotations

import itertools

import pytest

from annotator.sample_size import PLANNER_DEFAULTS, required_units, smallest_share_for


@pytest.mark.parametrize(
    ("alpha_min", "significance", "smallest_share", "expected"),
    [
        # Krippendorff, Content Analysis, 4th ed. (2019), sample-size table, as reproduced in the
        # ATLAS.ti manual "Inter-coder Agreement: Sample Size and Decision Rules": four equally
        # frequent codes (P_c = 0.25), alpha_min = 0.800, significance 0.05: 139.
        (0.8, 0.05, 0.25, 139),
        # Same source and table: alpha_min = 0.667, significance 0.05, P_c = 0.25: 81.
        (0.667, 0.05, 0.25, 81),
        # Worked by hand (not a published entry): binary variable, P_c = 0.5, alpha_min = 0.8,
        # significance 0.05, z = 1.6449, z² = 2.7055. (1.8 × 2.2) / (4 × 0.2 × 0.25) = 19.8;
        # 19.8 - 0.8 = 19.0; 2 × 2.7055 × 19.0 = 102.8, rounded up to 103.
        (0.8, 0.05, 0.5, 103),
        # Worked by hand (not a published entry): P_c = 0.1, alpha_min = 0.667, significance
        # 0.01, z = 2.3263, z² = 5.4119. (1.667 × 2.333) / (4 × 0.333 × 0.09) = 32.442;
        # 32.442 - 0.667 = 31.775; 2 × 5.4119 × 31.775 = 343.9, rounded up to 344.
        (0.667, 0.01, 0.1, 344),
    ],
)
def test_required_units(alpha_min, significance, smallest_share, expected):
    assert required_units(alpha_min, significance, smallest_share) == expected


def test_defaults_with_four_equal_options():
    # The conventional choices with four equally frequent options: 139 units (see above).
    assert required_units(**PLANNER_DEFAULTS, smallest_share=smallest_share_for(4)) == 139


@pytest.mark.parametrize(
    ("alpha_min", "significance", "smallest_share", "message"),
    [
        (0.0, 0.05, 0.25, "alpha_min must be between 0 and 1"),
        (1.0, 0.05, 0.25, "alpha_min must be between 0 and 1"),
        (-0.5, 0.05, 0.25, "alpha_min must be between 0 and 1"),
        (0.8, 0.0, 0.25, "significance must be between 0 and 0.5"),
        (0.8, 0.5, 0.25, "significance must be between 0 and 0.5"),
        (0.8, 0.05, 0.0, "smallest_share must be above 0 and at most 0.5"),
        (0.8, 0.05, 0.6, "smallest_share must be above 0 and at most 0.5"),
        (0.8, 0.05, float("nan"), "smallest_share must be above 0 and at most 0.5"),
    ],
)
def test_bad_input_raises(alpha_min, significance, smallest_share, message):
    with pytest.raises(ValueError, match=message):
        required_units(alpha_min, significance, smallest_share)


@pytest.mark.parametrize(("n_options", "share"), [(2, 0.5), (4, 0.25), (10, 0.1)])
def test_smallest_share_for(n_options, share):
    assert smallest_share_for(n_options) == pytest.approx(share)


@pytest.mark.parametrize("n_options", [0, 1, -3])
def test_smallest_share_needs_two_options(n_options):
    with pytest.raises(ValueError, match="at least two options"):
        smallest_share_for(n_options)


ALPHAS = [0.5, 0.667, 0.7, 0.8, 0.9, 0.95]
SIGNIFICANCES = [0.2, 0.1, 0.05, 0.01, 0.005, 0.001]
SHARES = [0.5, 0.4, 1 / 3, 0.25, 0.2, 0.1, 0.05, 0.01]


@pytest.mark.parametrize(("significance", "share"), list(itertools.product(SIGNIFICANCES, SHARES)))
def test_higher_alpha_min_never_needs_fewer_units(significance, share):
    units = [required_units(alpha, significance, share) for alpha in ALPHAS]
    assert units == sorted(units)


@pytest.mark.parametrize(("alpha", "share"), list(itertools.product(ALPHAS, SHARES)))
def test_smaller_significance_never_needs_fewer_units(alpha, share):
    units = [required_units(alpha, significance, share) for significance in SIGNIFICANCES]
    assert units == sorted(units)


@pytest.mark.parametrize(("alpha", "significance"), list(itertools.product(ALPHAS, SIGNIFICANCES)))
def test_rarer_smallest_value_never_needs_fewer_units(alpha, significance):
    units = [required_units(alpha, significance, share) for share in SHARES]
    assert units == sorted(units)
