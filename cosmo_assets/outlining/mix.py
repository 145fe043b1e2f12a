"""The mix: content types, audiences and styles dealt out to a partition's outlines by quota, not by chance.

Independent weighted draws wander: with 80 outlines and 11 content types a draw misses the
configured share by several points. Here each option gets a quota (its weight's share of the
partition, rounded up or down), and items are dealt in a seeded order, the most
constrained first, each to the eligible option furthest behind its quota relative to the items
still able to take it. The same items and seed always give the same deal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from cosmo_assets.ids import content_hash


def quotas(weights: Mapping[str, float], n: int, salt: object) -> dict[str, int]:
    """Systematic rounding of each option's exact share of n: every count is that share rounded down or up, the
    counts sum to n, and a seeded offset decides which round up, so across partitions each option gets its
    share on average (plain largest-remainder rounding would favour the heaviest options every time)."""
    total = sum(weights.values())
    order = sorted(weights, key=lambda o: content_hash(salt, "order", o))
    offset = int(content_hash(salt, "offset"), 16) / 16**16
    counts, cumulative, previous = {}, 0.0, 0
    for o in order:
        cumulative += n * weights[o] / total
        reached = min(n, int(cumulative + offset))
        counts[o] = reached - previous
        previous = reached
    counts[order[-1]] += n - previous  # float error on the last boundary
    return counts


def _feasible(target: dict[str, int], supply: Mapping[str, int], weights: Mapping[str, float], salt: object) -> dict[str, int]:
    """Quotas no larger than the items able to take them; what cannot be met goes to the others by weight."""
    target = dict(target)
    for _ in range(len(target)):
        excess = sum(max(0, target[o] - supply[o]) for o in target)
        if not excess:
            break
        for o in target:
            target[o] = min(target[o], supply[o])
        room = {o: weights[o] for o in target if target[o] < supply[o]}
        if not room:
            break
        for o, extra in quotas(room, excess, salt).items():
            target[o] += extra
    return target


@dataclass
class Deal:
    chosen: dict[Hashable, str]
    target: dict[str, int]  # quotas after eligibility (what the partition could reach)


def deal(
    items: Sequence[Hashable],
    weights: Mapping[str, float],
    eligible: Mapping[Hashable, Sequence[str]],
    salt: object,
    group_of: Mapping[Hashable, Hashable] | None = None,
) -> Deal:
    """Give every item one option from its eligible ones so that counts follow the weights.
    Items of one group (the outlines of one seed) get different options while they can."""
    for item in items:
        if not eligible[item]:
            raise ValueError(f"{item!r} suits none of the options {sorted(weights)}")
    supply = Counter(o for item in items for o in eligible[item])
    target = _feasible(quotas(weights, len(items), salt), {o: supply.get(o, 0) for o in weights}, weights, salt)
    order = sorted(items, key=lambda it: (len(eligible[it]), content_hash(salt, "order", it)))
    assigned: Counter = Counter()
    remaining = Counter(supply)
    taken: dict[Hashable, set[str]] = defaultdict(set)
    chosen: dict[Hashable, str] = {}
    for item in order:
        options = list(eligible[item])
        group = group_of.get(item) if group_of else None
        fresh = [o for o in options if o not in taken[group]] if group is not None else options
        pool = fresh or options

        def urgency(o: str) -> tuple:
            deficit = target[o] - assigned[o]
            return (deficit / remaining[o], deficit, content_hash(salt, "tie", item, o))  # noqa: B023 - used by max() just below

        pick = max(pool, key=urgency)
        chosen[item] = pick
        assigned[pick] += 1
        for o in options:
            remaining[o] -= 1
        if group is not None:
            taken[group].add(pick)
    return Deal(chosen, target)


def mix_report(values: Sequence[str], weights: Mapping[str, float]) -> dict:
    """Each option's configured share, its share here, and the gap in percentage points."""
    n = len(values)
    total = sum(weights.values())
    counts = Counter(values)
    rows = {
        o: {
            "configured_pct": round(100 * w / total, 2),
            "actual_pct": round(100 * counts.get(o, 0) / n, 2) if n else 0.0,
            "count": counts.get(o, 0),
        }
        for o, w in weights.items()
    }
    for row in rows.values():
        row["deviation_pp"] = round(abs(row["actual_pct"] - row["configured_pct"]), 2)
    return {
        "options": rows,
        "covered": sum(1 for r in rows.values() if r["count"]),
        "max_deviation_pp": max((r["deviation_pp"] for r in rows.values()), default=0.0),
    }
