"""BMP, Kolari-Pynnonen, Corrado rank and the generalised sign test against hand computations."""

import numpy as np
import pytest
from scipy import stats

from tokenwatch.methods import eventtests as E


def test_bmp_by_hand():
    car = np.array([0.02, 0.04, -0.01, 0.03])
    sd = np.array([0.01, 0.02, 0.01, 0.01])
    scar = [2.0, 2.0, -1.0, 3.0]  # each CAR over its own standard error
    mean, sd_scar = 1.5, np.sqrt(((0.5**2) * 2 + 2.5**2 + 1.5**2) / 3)  # 1.7320508...
    z, p = E.bmp(car, sd)
    assert np.mean(scar) == mean
    assert z == pytest.approx(mean * 2 / sd_scar)  # sqrt(4) = 2: 1.7320508
    assert p == pytest.approx(2 * stats.t.sf(z, 3))


def test_kolari_pynnonen_shrinks_bmp_by_the_mean_correlation():
    car, sd = np.array([0.02, 0.04, -0.01, 0.03]), np.array([0.01, 0.02, 0.01, 0.01])
    z, _ = E.bmp(car, sd)
    adj, _ = E.kolari_pynnonen(car, sd, 0.2)
    assert adj == pytest.approx(z * np.sqrt(0.8 / (1 + 3 * 0.2)))  # = z * 0.7071
    assert E.kolari_pynnonen(car, sd, 0.0)[0] == pytest.approx(z)
    res = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 0.0], [3.0, 6.0, 2.0], [4.0, 8.0, 1.0]])
    # columns 0 and 1 correlate perfectly; column 2 against either: deviations (-1.5, -.5, .5, 1.5) and
    # (0, -1, 1, 0) give 1.0 / sqrt(5 * 2)
    r02 = np.corrcoef(res[:, 0], res[:, 2])[0, 1]
    assert r02 == pytest.approx(1 / np.sqrt(10))
    assert E.mean_pairwise_correlation(res) == pytest.approx((1 + 2 * r02) / 3)


def test_corrado_rank_by_hand():
    est = np.array([[0.1, -0.2, 0.0], [0.3, 0.1, -0.1]])
    ev = np.array([[0.5], [0.2]])
    # ranks over 4 days: firm 1 -> [3, 1, 2, 4]; firm 2 -> [4, 2, 1, 3]; U = rank / 5 - 0.5
    u1, u2 = np.array([3, 1, 2, 4]) / 5 - 0.5, np.array([4, 2, 1, 3]) / 5 - 0.5
    k = (u1 + u2) / 2  # [0.2, -0.2, -0.2, 0.2]
    np.testing.assert_allclose(k, [0.2, -0.2, -0.2, 0.2])
    z, p = E.corrado_rank(est, ev)
    assert z == pytest.approx(1 * 0.2 / np.sqrt(np.mean(k**2)))  # = 1.0
    assert z == pytest.approx(1.0) and p == pytest.approx(2 * stats.norm.sf(1.0))


def test_generalized_sign_by_hand():
    est = np.array([[0.1, -0.2, 0.3, -0.1], [0.2, 0.1, -0.3, 0.4]])  # 5 of 8 positive: p = 0.625
    car = np.array([0.05, 0.02, -0.01, 0.03, 0.04])  # 4 of 5 positive
    z, p = E.generalized_sign(car, est)
    assert z == pytest.approx((4 - 5 * 0.625) / np.sqrt(5 * 0.625 * 0.375))  # 0.8111
    assert p == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert np.isnan(E.generalized_sign(car, np.ones((2, 3)))[0])  # no negative day: undefined, not zero


def test_placebo_p_counts_the_real_statistic_among_the_draws():
    draws = np.array([0.5, -2.0, 1.0, 3.0, np.nan, -0.1])
    # |draw| >= 1.0: -2.0, 1.0, 3.0 -> 3 of 5 finite draws; with the real one: (1 + 3) / (1 + 5)
    assert E.placebo_p(1.0, draws) == pytest.approx(4 / 6)
    assert E.placebo_p(-5.0, draws) == pytest.approx(1 / 6)  # two-sided: as extreme in either direction
    assert np.isnan(E.placebo_p(np.nan, draws))


def test_cluster_bootstrap_resamples_whole_sessions_by_hand():
    # two sessions: A with CARs 1 and 3 (sum 4, 2 names), B with CAR -1 (1 name); the mean is 1
    car = np.array([1.0, 3.0, -1.0])
    cluster = np.array(["A", "A", "B"])
    counts = np.array([[2, 0], [1, 1], [0, 2], [1, 1]])  # AA, AB, BB, AB
    # draw means: 8/4 = 2, 3/3 = 1, -2/2 = -1, 1; recentred |m* - 1|: 1, 0, 2, 0; at least |1|: 2 of 4
    stat, p = E.cluster_bootstrap(car, cluster, counts)
    boot = np.array([2.0, 1.0, -1.0, 1.0])
    assert stat == pytest.approx(1.0 / boot.std(ddof=1))
    assert p == pytest.approx((1 + 2) / (1 + 4))
    assert E.session_draws(3, 50, np.random.default_rng(0)).sum(axis=1).tolist() == [3] * 50


def test_holm_and_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.20])
    # Holm, m = 4: sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.20
    assert E.adjust(p, "holm")[[0, 2, 1, 4]] == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # Benjamini-Hochberg: p(i) m / i = 0.04, 0.06, 0.0533, 0.20, then the running minimum from the top
    assert E.adjust(p, "fdr_bh")[[0, 2, 1, 4]] == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])
    assert np.isnan(E.adjust(p, "holm")[3])
    with pytest.raises(ValueError, match="p-value adjustment"):
        E.adjust(p, "bonferroni")


def test_corrado_rank_skips_days_an_observation_does_not_have():
    est = np.array([[0.01, np.nan, -0.02, 0.0], [0.02, -0.01, 0.0, 0.01]])
    event = np.array([[0.03], [0.005]])
    # row 1: 0.01, -0.02, 0.0, 0.03 ranked 3, 1, 2, 4 of M = 4 -> U - 1/2 = 0.1, -0.3, -0.1, 0.3 (the NaN skipped)
    # row 2: 0.02, -0.01, 0.0, 0.01, 0.005 ranked 5, 1, 2, 4, 3 of M = 5 -> 1/3, -1/3, -1/6, 1/6, 0
    k = np.array([(0.1 + 1 / 3) / 2, -1 / 3, (-0.3 - 1 / 6) / 2, (-0.1 + 1 / 6) / 2, (0.3 + 0) / 2])
    z, _ = E.corrado_rank(est, event)
    assert z == pytest.approx(k[-1] / np.sqrt((k**2).mean()))
