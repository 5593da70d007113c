"""Rules of the Chinese exchanges that more than one layer applies.

Kept free of Dagster, akshare and Great Expectations: the loaders, the quality suites and the
read side may all import it.
"""

from __future__ import annotations

import numpy as np

#: Prices are quoted in fen: two decimals.
PRICE_DECIMALS = 2


def ex_rights_reference(previous_close, cash=0.0, new_shares=0.0, rights_shares=0.0, rights_price=0.0):
    """The exchange's ex-rights / ex-dividend reference price (除权除息参考价), CNY.

    `(previous_close - cash + rights_price x rights_shares) / (1 + new_shares + rights_shares)`,
    rounded to the fen as SSE and SZSE publish it; `cash` is the pre-tax cash dividend per
    share, `new_shares` the bonus plus transferred shares per share, `rights_shares` and
    `rights_price` a rights issue's shares per share and subscription price. Works on scalars
    and NumPy arrays alike; NaN amounts count as none.
    """
    cash, new_shares, rights_shares, rights_price = (np.nan_to_num(np.asarray(v, dtype="float64"))
                                                     for v in (cash, new_shares, rights_shares, rights_price))
    raw = (np.asarray(previous_close, dtype="float64") - cash + rights_price * rights_shares) / (
        1 + new_shares + rights_shares)
    # half away from zero, like the exchanges (np.round rounds half to even)
    rounded = np.floor(raw * 10**PRICE_DECIMALS + 0.5 + 1e-9) / 10**PRICE_DECIMALS
    return rounded.item() if rounded.ndim == 0 else rounded
