"""Quotas: which synthetic articles a release takes, so that it keeps as many as it can while its
shares hold their targets.

The SQL models draw the candidates and count the composition (dbt_like_sql/); this module holds the
part SQL says badly. Choosing rows so that four dimensions (domain, content type, audience, topic
type) hold their target shares at once, under caps per seed and per template, is a small integer
programme, solved exactly with HiGHS (scipy). The rules, which stages/quota_report.py judges by too:

- A share is met when its count lies within target ± tolerance of the release size, nothing else.
- A target the supply cannot meet is relaxed to what the supply allows: every candidate of that
  value (up to the seed cap) is released, and the value is reported `relaxed`; the other values are
  still held within their bands. A floor (min_domain_share) is an explicit request to lift a domain:
  it is held (the release shrinks for it), never relaxed.
- Among the allocations that meet (or relax) every target, the release keeps the most articles;
  among those, the best quality scores. It shrinks no further than quotas.min_release_share of what
  the caps allow; below that the targets give way as little as possible (the shortfall) and the
  quota check reports them missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from cosmo_assets.config import QUOTA_DIMENSIONS, BalanceSettings, QuotaSettings

# Looser than the solver's feasibility tolerance (1e-7), so a count it accepts is never judged a miss
# for floating-point noise in target x size.
EPS = 1e-6


def resolve_targets(quotas: QuotaSettings, present: Mapping[str, Iterable[str]]) -> dict[str, dict[str, float]]:
    """Effective target share per dimension and value, over the values that have candidates.

    `even` splits equally; a configured map is scaled up over the values present, and a present
    value the map does not name gets 0. Values without candidates are reported `no supply`.
    """
    resolved: dict[str, dict[str, float]] = {}
    for dim, spec in quotas.targets().items():
        values = sorted(set(present.get(dim, ())))
        if not values:
            resolved[dim] = {}
        elif spec == "even":
            resolved[dim] = {v: 1 / len(values) for v in values}
        else:
            raw = {v: float(spec.get(v, 0.0)) for v in values}
            total = sum(raw.values())
            resolved[dim] = {v: (s / total if total else 0.0) for v, s in raw.items()}
    return resolved


def band(target: float, size: int, tolerance: float) -> tuple[float, float]:
    """The counts that meet `target` in a release of `size`: target ± tolerance, as article counts."""
    return (target - tolerance) * size - EPS, (target + tolerance) * size + EPS


def supply_per_value(candidates: pl.DataFrame, max_per_seed: int) -> dict[str, dict[str, int]]:
    """What the candidates offer per dimension value, counting at most max_per_seed articles per seed."""
    supply: dict[str, dict[str, int]] = {}
    for dim in QUOTA_DIMENSIONS:
        if candidates.height == 0:
            supply[dim] = {}
            continue
        per_seed = candidates.group_by(dim, "seed_id").len().with_columns(pl.col("len").clip(upper_bound=max_per_seed))
        supply[dim] = dict(per_seed.group_by(dim).agg(pl.col("len").sum()).sort(dim).iter_rows())
    return supply


@dataclass(frozen=True)
class QuotaPlan:
    candidates: int
    capacity: int  # most articles the caps let through
    min_size: int  # the release shrinks no further (quotas.min_release_share)
    size: int  # synthetic articles released
    size_reason: str
    shortfall: float  # articles by which the targets are missed in total; 0 when every one is met or relaxed
    targets: dict[str, dict[str, float]]
    supply: dict[str, dict[str, int]]
    decisions: dict[str, int] = field(default_factory=dict)
    relaxed: dict[str, str] = field(default_factory=dict)  # "dim=value": why its target gave way
    left_out: int = 0  # candidates not released


@dataclass(frozen=True)
class _Bound:
    """A share to hold: `units` together take between low x N and high x N articles (high None: no
    upper bound); below low only when every one of its `supply` candidates is taken (relaxed)."""

    name: str
    units: np.ndarray
    low: float
    high: float | None
    supply: int


class _QuotaModel:
    """The quotas as a small integer programme over units of interchangeable candidates.

    A unit is every candidate sharing domain, content type, audience, topic type and template; a
    seed with more candidates than max_per_seed gets units of its own so its cap can be stated.
    Variables: articles taken per unit (x), the release size N, a share in [0, 1] of each candidate
    (y, so quality counts the best of a unit first), whether each bound is relaxed (r), and the
    shortfall below and above each bound.
    """

    def __init__(self, units: pl.DataFrame, bounds: list[_Bound], caps: list[tuple[np.ndarray, int]], quality: np.ndarray):
        self.units, self.bounds, self.caps, self.quality = units, bounds, caps, quality
        self.n_units, self.n_rows = units.height, len(quality)
        self.available = units["row"].list.len().to_numpy().astype(float)

    def capacity(self) -> int:
        """The most articles the caps let through together (seed and template caps can interact)."""
        if not self.caps:
            return int(self.available.sum())
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

        rows = [r for r, (units, _) in enumerate(self.caps) for _ in units]
        cols = [u for units, _ in self.caps for u in units]
        matrix = coo_array((np.ones(len(cols)), (rows, cols)), shape=(len(self.caps), self.n_units))
        result = milp(
            -np.ones(self.n_units), integrality=np.ones(self.n_units), bounds=Bounds(0, self.available),
            constraints=[LinearConstraint(matrix, -np.inf, [cap for _, cap in self.caps])],
            options={"mip_rel_gap": 0.0, "disp": False},
        )
        return int(round(-result.fun))

    def solve(self, min_size: int, limit: int) -> tuple[float, np.ndarray]:
        """(shortfall, articles per unit): the least shortfall for a size in [min_size, limit], then
        the most articles, then the best quality."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

        U, R, B = self.n_units, self.n_rows, len(self.bounds)
        x, n, y, r, lo, hi = 0, U, U + 1, U + 1 + R, U + 1 + R + B, U + 1 + R + 2 * B
        n_var = U + 1 + R + 3 * B
        rows, cols, vals, lower, upper = [], [], [], [], []

        def constraint(terms: list[tuple[int, float]], lo_: float, hi_: float) -> None:
            r_ = len(lower)
            for col, val in terms:
                rows.append(r_), cols.append(col), vals.append(val)
            lower.append(lo_), upper.append(hi_)

        constraint([(x + u, 1.0) for u in range(U)] + [(n, -1.0)], 0.0, 0.0)  # the units add up to N
        for u, members in enumerate(self.units["row"].to_list()):  # a unit's share of each candidate
            constraint([(y + i, 1.0) for i in members] + [(x + u, -1.0)], 0.0, 0.0)
        for k, b in enumerate(self.bounds):
            taken = [(x + u, 1.0) for u in b.units]
            # at least low x N, unless relaxed; relaxed only with the whole supply taken
            constraint([*taken, (n, -b.low), (lo + k, 1.0), (r + k, float(limit))], 0.0, np.inf)
            constraint([*taken, (r + k, -float(b.supply))], 0.0, np.inf)
            if b.high is not None:
                constraint([*taken, (n, -b.high), (hi + k, -1.0)], -np.inf, 0.0)
        for units, cap in self.caps:
            constraint([(x + u, 1.0) for u in units], -np.inf, cap)

        matrix = coo_array((vals, (rows, cols)), shape=(len(lower), n_var))
        no_high = [0.0 if b.high is None else np.inf for b in self.bounds]
        bounds = Bounds(
            np.concatenate([np.zeros(U), [min_size], np.zeros(R + 3 * B)]),
            np.concatenate([self.available, [limit], np.ones(R + B), np.full(B, np.inf), no_high]),
        )
        integrality = np.concatenate([np.ones(U + 1), np.zeros(R), np.ones(B), np.zeros(2 * B)])
        options = {"mip_rel_gap": 0.0, "time_limit": 120.0, "disp": False}

        def run(objective, extra=()):
            result = milp(objective, integrality=integrality, bounds=bounds, options=options,
                          constraints=[LinearConstraint(matrix, lower, upper), *extra])
            if result.x is None:
                raise RuntimeError(f"the quota solver found no allocation: {result.message}")
            return result

        slack = np.zeros(n_var)
        slack[lo:] = 1.0
        shortfall = float(run(slack).fun)
        held = LinearConstraint(slack, -np.inf, shortfall + 1e-6)
        size = np.zeros(n_var)
        size[n] = -1.0
        most = round(-run(size, [held]).fun)
        # Then, at that size, the best quality. Three solves are quicker than one weighted objective,
        # whose near-ties the solver must tell apart to prove it optimal.
        quality = np.zeros(n_var)
        quality[y:y + R] = -self.quality
        best = run(quality, [held, LinearConstraint(size, -most, -most)])
        return round(shortfall, 6), np.round(best.x[:U]).astype(int)


def _units(rows: pl.DataFrame, max_per_seed: int) -> pl.DataFrame:
    over_cap = rows.group_by("seed_id").len().filter(pl.col("len") > max_per_seed)["seed_id"]
    keys = [*QUOTA_DIMENSIONS, "template_id", "unit_seed"]
    return (
        rows.with_row_index("row")
        .with_columns(unit_seed=pl.when(pl.col("seed_id").is_in(over_cap.implode())).then("seed_id").otherwise(pl.lit("")))
        .group_by(keys)
        .agg(pl.col("row").sort())  # rows come sorted best quality first, so a unit's first rows are its best
        .sort(keys)
    )


def _bounds(units: pl.DataFrame, targets, floors, supply, tolerance: float) -> list[_Bound]:
    def members(column: str, value: str) -> np.ndarray:
        return np.flatnonzero(units[column].to_numpy() == value)

    bounds = [
        _Bound(f"{dim}={value}", members(dim, value), share - tolerance, share + tolerance, supply[dim].get(value, 0))
        for dim, shares in targets.items() for value, share in shares.items()
    ]
    # a floor is never relaxed: no count reaches a supply above every release size
    bounds += [_Bound(f"domain={d} (floor)", members("domain", d), share, None, units["row"].list.len().sum() + 1)
               for d, share in floors.items()]
    return bounds


def allocate(candidates: pl.DataFrame, settings: BalanceSettings) -> tuple[pl.DataFrame, QuotaPlan]:
    """Choose the synthetic articles of one language's release (the rules are in the module's docstring).

    Returns one row per candidate (id, selected, decision) and the plan behind the choice.
    Deterministic: within a unit the best quality scores go first, then the smaller ids.
    """
    quotas = settings.quotas
    rows = candidates.sort(["quality_score", "id"], descending=[True, False], nulls_last=True)
    supply = supply_per_value(rows, settings.max_per_seed)
    present = {dim: [v for v, n in values.items() if n] for dim, values in supply.items()}
    targets = resolve_targets(quotas, present)
    floors = {d: s for d, s in quotas.min_domain_share.items() if d in present["domain"]}
    units = _units(rows, settings.max_per_seed)
    caps = [(np.flatnonzero(units["unit_seed"].to_numpy() == s), settings.max_per_seed)
            for s in units["unit_seed"].unique().sort() if s]
    if settings.max_per_template is not None:
        caps += [(np.flatnonzero(units["template_id"].to_numpy() == t), settings.max_per_template)
                 for t in units["template_id"].unique().sort()]
    bounds = _bounds(units, targets, floors, supply, quotas.tolerance)
    quality = rows["quality_score"].fill_null(0.0).to_numpy().astype(float)
    model = _QuotaModel(units, bounds, caps, quality)

    capacity = model.capacity()
    limit = capacity if settings.max_per_language is None else min(capacity, settings.max_per_language)
    min_size = min(limit, math.ceil(quotas.min_release_share * limit - EPS))
    shortfall, take = (model.solve(min_size, limit) if limit > 0 else (0.0, np.zeros(units.height, dtype=int)))
    size = int(take.sum())

    selected = np.zeros(rows.height, dtype=bool)
    for unit_rows, n in zip(units["row"].to_list(), take):
        selected[unit_rows[:n]] = True
    allocation = _decisions(rows, selected, settings)
    counts = {b.name: int(take[b.units].sum()) for b in bounds}
    relaxed = {b.name: f"all {counts[b.name]} candidates released; its target needs at least {max(b.low, 0) * size:.1f} of {size}"
               for b in bounds if counts[b.name] < b.low * size - EPS and counts[b.name] >= b.supply}
    reason = _size_reason(size, limit, capacity, settings, shortfall, min_size, bounds, counts, relaxed)
    decided = dict(allocation.group_by("decision").len().sort("decision").iter_rows()) if allocation.height else {}
    plan = QuotaPlan(rows.height, capacity, min_size, size, reason, shortfall, targets, supply, decided, relaxed,
                     rows.height - size)
    return allocation, plan


def _size_reason(size, limit, capacity, settings, shortfall, min_size, bounds, counts, relaxed) -> str:
    """Why the release has `size` articles, in words for the log, the UI and the card."""
    if shortfall > 0:
        return (f"no size from {min_size} (min_release_share) to {limit} holds every target; "
                f"closest at {size}, {shortfall:g} articles short in total")
    if size == limit:
        why = "every candidate the caps allow" if limit == capacity else f"max_per_language={settings.max_per_language}"
    else:
        # the values at their upper bound are the ones that kept more articles out
        full = [f"{b.name} at {counts[b.name]} (at most {b.high * size:.1f})" for b in bounds
                if b.high is not None and counts[b.name] + 1 > b.high * (size + 1) + EPS]
        why = f"shrunk from {limit} to hold the targets within tolerance: " + ("; ".join(full) or "no larger choice holds them")
    if relaxed:
        why += f"; relaxed to the supply: {', '.join(sorted(relaxed))}"
    return why


def _decisions(rows: pl.DataFrame, selected: np.ndarray, settings: BalanceSettings) -> pl.DataFrame:
    """Why each candidate is in or out: released, seed_cap, template_cap, or quota (left out to balance)."""
    frame = rows.select("id", "seed_id", "template_id").with_columns(selected=pl.Series(selected))
    full_seed = pl.col("selected").sum().over("seed_id") >= settings.max_per_seed
    full_template = (
        pl.col("selected").sum().over("template_id") >= settings.max_per_template
        if settings.max_per_template is not None
        else pl.lit(False)
    )
    decision = (
        pl.when("selected").then(pl.lit("released"))
        .when(full_seed).then(pl.lit("seed_cap"))
        .when(full_template).then(pl.lit("template_cap"))
        .otherwise(pl.lit("quota"))
    )
    return frame.select("id", "selected", decision.alias("decision"))
