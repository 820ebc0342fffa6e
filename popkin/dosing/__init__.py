"""Dosing regimens: qd, bid, tid, weekly, every, once, loading dose; composed with
``then`` (in sequence) and ``+`` (side by side); ``to_frame`` gives the canonical
event frame that ``popkin.data.events.pack`` consumes.

    from popkin.dosing import once, bid
    lxi = once(110).then(bid(110, days=28), gap=24)   # "110 mg single dose, 1 d washout, then 110 mg BID x 28 d"
    frame = lxi.with_observations([0, 1, 2, 4, 8]).to_frame(ids=24)
"""

from popkin.dosing.regimen import DAY, WEEK, Block, Regimen, bid, every, loading, once, qd, tid, weekly

__all__ = ["Regimen", "Block", "every", "qd", "bid", "tid", "weekly", "once", "loading", "DAY", "WEEK"]
