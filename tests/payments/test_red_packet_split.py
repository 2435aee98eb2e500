"""The split: exact, at least one unit each, and fair to every position."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.services.red_packets import split_equal, split_random


@given(
    data=st.data(),
    count=st.integers(min_value=1, max_value=100),
    seed=st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=300, deadline=None)
def test_random_split_sums_exactly_and_every_share_is_positive(data, count, seed):
    total = data.draw(st.integers(min_value=count, max_value=20_000))
    shares = split_random(total, count, random.Random(seed))
    assert len(shares) == count
    assert sum(shares) == total
    assert min(shares) >= 1


@given(count=st.integers(min_value=1, max_value=100))
def test_total_equal_to_count_gives_one_unit_each(count):
    assert split_random(count, count, random.Random(0)) == [1] * count


def test_equal_split():
    assert split_equal(1000, 4) == [250] * 4


def test_every_position_gets_the_same_mean_chi_square():
    """Line cutting is exchangeable: no position (first or last grabber) is favoured.

    For 5 shares of 100 units, bucket each position's share into quartiles of the
    pooled distribution and run a chi-square test of independence between position and
    bucket (seeded, so the test is deterministic)."""
    rng = random.Random(20261203)
    count, total, runs = 5, 100, 4000
    samples = [split_random(total, count, rng) for _ in range(runs)]
    pooled = sorted(v for s in samples for v in s)
    cuts = [pooled[len(pooled) * q // 4] for q in (1, 2, 3)]

    def bucket(v):
        return sum(v > c for c in cuts)

    table = [[0] * 4 for _ in range(count)]
    for s in samples:
        for pos, v in enumerate(s):
            table[pos][bucket(v)] += 1
    col = [sum(table[p][b] for p in range(count)) for b in range(4)]
    chi2 = sum(
        (table[p][b] - runs * col[b] / (runs * count)) ** 2 / (runs * col[b] / (runs * count))
        for p in range(count)
        for b in range(4)
        if col[b]
    )
    # (5-1)*(4-1) = 12 degrees of freedom: the 99.9th percentile is 32.9.
    assert chi2 < 32.9, chi2
    means = [sum(s[p] for s in samples) / runs for p in range(count)]
    assert max(means) - min(means) < 2.0, means
