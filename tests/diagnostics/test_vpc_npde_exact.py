"""Binning, prediction correction, VPC percentiles and NPDE on tiny hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from popkin.diagnostics import assign_bins, npde_values, prediction_corrected, time_bins, vpc_frame

TIMES = np.array([0.5, 1.0, 2.0, 4.0, 6.0, 8.0])
PRED = np.array([2.0, 4.0, 8.0, 4.0, 2.0, 1.0])
DV = np.array([3.0, 2.0, 10.0, 6.0, 2.0, 0.5])
EDGES = np.array([0.0, 3.0, 10.0])


def test_time_bins_and_assignment():
    # quantiles 0, 0.5, 1 of 1..10 are 1, 5.5, 10
    np.testing.assert_allclose(time_bins(np.arange(1.0, 11.0), 2), [1.0, 5.5, 10.0])
    # [1, 5.5) -> 0, [5.5, 10] -> 1 (last bin closed), outside -> -1
    np.testing.assert_array_equal(assign_bins([1.0, 5.4, 5.5, 10.0, 0.9, 10.1], [1.0, 5.5, 10.0]),
                                  [0, 0, 1, 1, -1, -1])


def test_prediction_correction_by_hand():
    bins = assign_bins(TIMES, EDGES)
    np.testing.assert_array_equal(bins, [0, 0, 0, 1, 1, 1])
    # median PRED per bin: 4 (of 2, 4, 8) and 2 (of 4, 2, 1); pcDV = DV * PRED_bin / PRED
    np.testing.assert_allclose(prediction_corrected(DV, PRED, bins), [6.0, 2.0, 5.0, 3.0, 2.0, 1.0])
    # replicate axes broadcast: each replicate corrected with the records' own PRED
    sims = np.stack([DV, 2 * DV])
    np.testing.assert_allclose(prediction_corrected(sims, PRED, bins)[1], [12.0, 4.0, 10.0, 6.0, 4.0, 2.0])


def test_vpc_frame_by_hand():
    bins = assign_bins(TIMES, EDGES)
    sims = np.stack([0.5 * DV, DV, 2.0 * DV])        # K = 3 replicates
    frame = vpc_frame(TIMES, DV, sims, bins, pred=PRED)
    row = frame.set_index(["bin", "percentile"])
    # corrected observations: bin 0 {6, 2, 5}, bin 1 {3, 2, 1}; type-7 percentiles
    assert row.loc[(0, 5.0), "observed"] == pytest.approx(2.3)
    assert row.loc[(0, 50.0), "observed"] == pytest.approx(5.0)
    assert row.loc[(0, 95.0), "observed"] == pytest.approx(5.9)
    assert row.loc[(1, 5.0), "observed"] == pytest.approx(1.1)
    assert row.loc[(1, 95.0), "observed"] == pytest.approx(2.9)
    # replicate medians of bin 0 are 2.5, 5, 10: 90% interval by type 7 = [2.75, 9.5]
    assert row.loc[(0, 50.0), ["sim_low", "sim_median", "sim_high"]].tolist() == pytest.approx([2.75, 5.0, 9.5])
    # replicate P5 of bin 0: 1.15, 2.3, 4.6 -> [1.265, 2.3, 4.37]
    assert row.loc[(0, 5.0), ["sim_low", "sim_median", "sim_high"]].tolist() == pytest.approx([1.265, 2.3, 4.37])
    assert row.loc[(0, 50.0), "time"] == 1.0 and row.loc[(1, 50.0), "time"] == 6.0
    assert row.loc[(0, 50.0), "n"] == 3
    assert row["inside"].all()
    # a plain VPC (no correction) uses the raw DV: bin 0 median of {3, 2, 10} = 3
    plain = vpc_frame(TIMES, DV, sims, bins).set_index(["bin", "percentile"])
    assert plain.loc[(0, 50.0), "observed"] == pytest.approx(3.0)


def test_npde_one_observation():
    sims = np.array([[1.0], [2.0], [3.0], [4.0]])      # K = 4
    subject = np.array([0])
    use = np.array([True])
    for y, pde in ((2.5, 0.5), (0.5, 1 / 8), (10.0, 7 / 8)):     # 0 -> 1/(2K), 1 -> 1 - 1/(2K)
        npde, pd_ = npde_values(np.array([y]), sims, subject, use)
        assert npde[0] == pytest.approx(ndtri(pde)) and pd_[0] == pytest.approx(pde)


def test_npde_decorrelation_by_hand():
    # 4 replicates of 2 observations: mean (1.5, 1.5), covariance [[5, 4], [4, 5]] / 3.
    # Cholesky-decorrelated replicates, second component: -0.387, -0.129, 1.420, -0.904;
    # observation (1.5, 2.0) -> (0, 0.6455): pde = (2/4, 3/4). Without decorrelation the
    # second pd is 2/4.
    sims = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 3.0], [3.0, 2.0]])
    npde, pd_ = npde_values(np.array([1.5, 2.0]), sims, np.array([0, 0]), np.array([True, True]))
    np.testing.assert_allclose(npde, [0.0, ndtri(0.75)], atol=1e-12)
    np.testing.assert_allclose(pd_, [0.5, 0.5])
    # excluded observations are NaN, other subjects independent
    npde2, _ = npde_values(np.array([1.5, 2.0, 9.9]), np.hstack([sims, sims[:, :1]]), np.array([0, 0, 1]),
                           np.array([True, True, False]))
    assert np.isnan(npde2[2]) and npde2[1] == pytest.approx(ndtri(0.75))
