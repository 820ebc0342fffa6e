"""Event packing (popkin.data.events): ADDL expansion, NONMEM record order,
covariates carried forward and back, padding, and the unpack round trip. Every
expected value below is worked out by hand from NONMEM's rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from popkin.data.events import EventArrays, expand_addl, pack, unpack


def frame(rows, columns=("ID", "TIME", "EVID", "AMT", "II", "ADDL", "DV", "MDV", "ROW")):
    return pd.DataFrame(rows, columns=list(columns))


def test_addl_expansion_counts_times_and_order():
    # 100 q12h x 4 (ADDL 3) from 0; a sample at 12 (a trough: before the implied dose at 12)
    f = frame([[1, 0.0, 1, 100.0, 12.0, 3, np.nan, 1, 1],
               [1, 12.0, 0, 0.0, 0.0, 0, 5.0, 0, 2],
               [1, 40.0, 0, 0.0, 0.0, 0, 2.0, 0, 3]])
    a = pack(f)
    assert a.n_subjects == 1 and a.n_records == 6
    np.testing.assert_array_equal(a.time[0], [0, 12, 12, 24, 36, 40])
    np.testing.assert_array_equal(a.evid[0], [1, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(a.row[0], [1, 2, -1, -1, -1, 3])
    np.testing.assert_array_equal(a.amt[0], [100, 0, 100, 100, 100, 0])
    np.testing.assert_array_equal(a.obs[0], [False, True, False, False, False, True])
    assert bool(jnp.all(a.mask))


def test_implied_doses_are_plain_doses_after_a_steady_state_one():
    f = frame([[1, 0.0, 1, 50.0, 24.0, 2, np.nan, 1, 1]]).assign(SS=1)
    x = expand_addl(f)
    assert list(x["TIME"]) == [0, 24, 48] and list(x["SS"]) == [1, 0, 0] and list(x["ADDL"]) == [0, 0, 0]


def test_covariates_carried_forward_and_first_value_backward():
    f = frame([[1, 0.0, 1, 100.0, 24.0, 2, np.nan, 1, 1],
               [1, 1.0, 0, 0.0, 0.0, 0, 3.0, 0, 2],
               [1, 30.0, 0, 0.0, 0.0, 0, 2.0, 0, 3],
               [1, 60.0, 0, 0.0, 0.0, 0, 1.0, 0, 4]]).assign(
        WT=[np.nan, 70.0, np.nan, 72.0],      # first record back-filled with 70
        CRCL=[100.0, np.nan, 80.0, np.nan])   # 80 from 30 h on, also on the implied dose at 48
    a = pack(f, ["WT", "CRCL"])
    # records: 0 dose, 1 obs, 24 implied, 30 obs, 48 implied, 60 obs
    np.testing.assert_array_equal(a.time[0], [0, 1, 24, 30, 48, 60])
    np.testing.assert_array_equal(a.covariate("WT")[0], [70, 70, 70, 70, 70, 72])
    np.testing.assert_array_equal(a.covariate("CRCL")[0], [100, 100, 100, 80, 80, 80])
    np.testing.assert_array_equal(a.baseline("CRCL"), [100])
    with pytest.raises(KeyError, match="no covariate 'AGE'"):
        a.covariate("AGE")


def test_padding_is_inert():
    f = frame([[1, 0.0, 1, 10.0, 0.0, 0, np.nan, 1, 1],
               [1, 2.0, 0, 0.0, 0.0, 0, 1.0, 0, 2],
               [1, 4.0, 0, 0.0, 0.0, 0, 0.5, 0, 3],
               [2, 0.0, 1, 20.0, 0.0, 0, np.nan, 1, 4],
               [2, 3.0, 0, 0.0, 0.0, 0, 2.0, 0, 5]]).assign(WT=[60.0] * 3 + [80.0] * 2)
    a = pack(f, ["WT"])
    assert a.time.shape == (2, 3) and a.cov.shape == (2, 3, 1)
    np.testing.assert_array_equal(a.mask, [[True, True, True], [True, True, False]])
    # padding: EVID 2, AMT 0, the last real time and covariates, not an observation
    assert (int(a.evid[1, 2]), float(a.amt[1, 2]), float(a.time[1, 2])) == (2, 0.0, 3.0)
    assert float(a.cov[1, 2, 0]) == 80.0 and not bool(a.obs[1, 2]) and np.isnan(float(a.dv[1, 2]))
    assert int(a.row[1, 2]) == -1
    np.testing.assert_array_equal(np.asarray(a.dv), [[np.nan, 1.0, 0.5], [np.nan, 2.0, np.nan]])


def test_unpack_round_trip_keeps_rows():
    f = frame([[7, 0.0, 1, 10.0, 6.0, 1, np.nan, 1, 1],
               [7, 3.0, 0, 0.0, 0.0, 0, 1.0, 0, 2],
               [9, 0.0, 1, 20.0, 0.0, 0, np.nan, 1, 3],
               [9, 5.0, 0, 0.0, 0.0, 0, 2.0, 0, 4]])
    a = pack(f)
    out = unpack(a, a.time * 10 + a.amt, name="PRED")
    assert list(out.columns) == ["ID", "ROW", "TIME", "PRED"]
    assert list(out["ID"]) == [7, 7, 7, 9, 9] and list(out["ROW"]) == [1, 2, -1, 3, 4]
    np.testing.assert_array_equal(out["TIME"], [0, 3, 6, 0, 5])
    np.testing.assert_array_equal(out["PRED"], [10, 30, 70, 20, 50])
    # the file's rows map back one to one
    data = out[out["ROW"] > 0].set_index("ROW")
    np.testing.assert_array_equal(data.loc[f["ROW"], "TIME"], f["TIME"])


def test_subjects_in_order_of_first_appearance_with_text_ids():
    f = frame([["b", 0.0, 1, 1.0, 0.0, 0, np.nan, 1, 1],
               ["a", 0.0, 1, 2.0, 0.0, 0, np.nan, 1, 2]])
    a = pack(f)
    assert a.ids == ("b", "a")
    one = a.subject(1)
    assert one.ids == ("a",) and one.time.shape == (1,) and float(one.amt[0]) == 2.0


def test_reset_with_time_restart_keeps_occasions_in_order():
    # occasion 1: dose at 0 (q12h x 2), sample at 24; occasion 2: reset and dose at 0, sample at 1
    f = frame([[1, 0.0, 1, 10.0, 12.0, 1, np.nan, 1, 1],
               [1, 24.0, 0, 0.0, 0.0, 0, 1.0, 0, 2],
               [1, 0.0, 4, 20.0, 0.0, 0, np.nan, 1, 3],
               [1, 1.0, 0, 0.0, 0.0, 0, 2.0, 0, 4]])
    a = pack(f)
    np.testing.assert_array_equal(a.time[0], [0, 12, 24, 0, 1])
    np.testing.assert_array_equal(a.evid[0], [1, 1, 0, 4, 0])
    np.testing.assert_array_equal(a.row[0], [1, -1, 2, 3, 4])


def test_defaults_for_missing_optional_columns():
    f = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 1.0], "AMT": [5.0, 0.0], "DV": [np.nan, 2.0]})
    a = pack(f)
    np.testing.assert_array_equal(a.evid[0], [1, 0])
    np.testing.assert_array_equal(a.cmt[0], [1, 1])
    np.testing.assert_array_equal(a.obs[0], [False, True])


def test_arrays_are_a_pytree_for_vmap():
    f = frame([[1, 0.0, 1, 10.0, 12.0, 2, np.nan, 1, 1],
               [2, 0.0, 1, 20.0, 0.0, 0, np.nan, 1, 2]])
    a = pack(f)
    total = jax.jit(jax.vmap(lambda s: jnp.sum(jnp.where(s.mask, s.amt, 0.0))))(a)
    np.testing.assert_array_equal(total, [30.0, 20.0])
    assert isinstance(jax.tree_util.tree_map(lambda x: x, a), EventArrays)
