"""The placebo's statistics per draw, by hand."""

import numpy as np
import pytest

from tokenwatch.methods import eventpanel


def test_placebo_statistics_per_draw_by_hand():
    # two draws of two sessions x two subjects; the second has a subject without a CAR on one session
    car = np.array([[[0.01, 0.03], [-0.01, 0.01]], [[0.02, np.nan], [0.04, 0.00]]])
    sd = np.full(car.shape, 0.01)
    mean_car, z = eventpanel.placebo_statistics(car, sd)
    assert mean_car == pytest.approx([0.01, 0.02])
    scar1, scar2 = np.array([1.0, 3.0, -1.0, 1.0]), np.array([2.0, 4.0, 0.0])
    assert z[0] == pytest.approx(scar1.mean() * 2 / scar1.std(ddof=1))
    assert z[1] == pytest.approx(scar2.mean() * np.sqrt(3) / scar2.std(ddof=1))


def test_t_test_by_hand():
    t, p = eventpanel.t_test(np.array([1.0, 2.0, 3.0]))
    assert t == pytest.approx(2.0 / (1.0 / np.sqrt(3)))
    assert np.isnan(eventpanel.t_test(np.array([1.0]))[0])


def test_p_text_keeps_small_p_values_readable():
    assert eventpanel.p_text(0.0383) == "0.038" and eventpanel.p_text(0.00006) == "< 0.001"
    assert eventpanel.p_eq(0.0383) == "= 0.038" and eventpanel.p_eq(0.00006) == "< 0.001"
