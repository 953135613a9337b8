"""Splitting a whole number of cents (or units) in proportion to weights, so that the shares
always add up to the total (largest remainder). No I/O."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def split_largest_remainder(total: int, weights: Mapping[K, int | Fraction]) -> dict[K, int]:
    """Share `total` (>= 0) out over the keys of `weights` (each >= 0) in proportion.

    Each key gets the floor of its exact share; the units left over go one each to the keys
    with the largest remainders (ties: heavier weight first, then the key's text), so the
    shares add up to `total` exactly. With all weights 0 the total is shared equally.
    """
    if total < 0:
        raise ValueError("total must be 0 or more")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must be 0 or more")
    if not weights:
        if total:
            raise ValueError("nothing to share a non-zero total over")
        return {}
    if total == 0:
        return dict.fromkeys(weights, 0)
    if all(isinstance(w, int) for w in weights.values()):
        return _split_ints(total, weights)  # type: ignore[arg-type]
    whole = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if whole == 0:
        weights = {k: 1 for k in weights}
        whole = Fraction(len(weights))
    exact = {k: Fraction(w) * total / whole for k, w in weights.items()}
    shares = {k: int(v.numerator // v.denominator) for k, v in exact.items()}
    left = total - sum(shares.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - shares[k]), -Fraction(weights[k]), str(k)))
    for key in order[:left]:
        shares[key] += 1
    return shares


def _split_ints(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    whole = sum(weights.values())
    if whole == 0:
        weights = dict.fromkeys(weights, 1)
        whole = len(weights)
    shares, rests = {}, {}
    for key, weight in weights.items():
        shares[key], rests[key] = divmod(total * weight, whole)
    left = total - sum(shares.values())
    if left:
        order = sorted(weights, key=lambda k: (-rests[k], -weights[k], str(k)))
        for key in order[:left]:
            shares[key] += 1
    return shares
