"""Quotas: how many synthetic articles a release takes and which ones, so its shares meet the targets.

The SQL models draw the candidates and count the composition (dbt_like_sql/); this module holds the
part SQL says badly. Choosing rows so that four dimensions (domain, content type, audience, topic
type) meet their target shares at once, under caps per seed and per template, is a small integer
programme: in SQL it could only be a recursive CTE carrying running counts per row, unreadable and
still only a heuristic (a greedy fill tried first missed targets on a quarter of skewed pools that
could meet them). Here it is stated as the quotas read and solved exactly with HiGHS (scipy).
The report of achieved against target, read from the composition model's numbers, sits beside it,
so both share one definition of "met":

A share is met when its count lies within the tolerance band around target x size, or is as close
as whole articles allow (one of the two whole numbers around target x size).
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
_EPS = 1e-6


def resolve_targets(quotas: QuotaSettings, present: Mapping[str, Iterable[str]]) -> dict[str, dict[str, float]]:
    """Effective target share per dimension and value, over the values that have candidates.

    `even` splits equally; a configured map is scaled up over the values present, and a present
    value the map does not name gets 0.
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


def allowed_range(target: float, size: int, tolerance: float) -> tuple[int, int]:
    """Counts that meet `target` in a release of `size`: the tolerance band, widened to the two
    whole numbers around target x size so a small release is not failed for rounding."""
    exact = target * size
    low = min(math.ceil((target - tolerance) * size - _EPS), math.floor(exact + _EPS))
    high = max(math.floor((target + tolerance) * size + _EPS), math.ceil(exact - _EPS))
    return max(low, 0), min(high, size)


def floor_count(share: float, size: int) -> int:
    """Fewest articles that satisfy a minimum share, as close as whole articles allow."""
    return math.floor(share * size + _EPS)


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


def _size_blocker(
    size: int,
    targets: Mapping[str, Mapping[str, float]],
    supply: Mapping[str, Mapping[str, int]],
    floors: Mapping[str, float],
    tolerance: float,
) -> str | None:
    """Why the supply cannot meet every target in a release of `size`, or None if it can."""
    for dim, shares in targets.items():
        room = 0
        for value, share in shares.items():
            low, high = allowed_range(share, size, tolerance)
            have = supply[dim].get(value, 0)
            if have < low:
                return f"{dim}={value} has {have} candidates; its target {share:.2f} needs {low} of {size}"
            room += min(have, high)
        if shares and room < size:
            return f"{dim}: its values can hold only {room} of {size} articles within their targets"
    for domain, share in floors.items():
        have = supply["domain"].get(domain, 0)
        if have and have < floor_count(share, size):
            return f"domain={domain} has {have} candidates; its minimum share {share:.2f} needs {floor_count(share, size)} of {size}"
    return None


@dataclass(frozen=True)
class QuotaPlan:
    candidates: int
    capacity: int  # most articles the caps let through
    min_size: int  # the release shrinks no further (quotas.min_release_share)
    size: int  # synthetic articles released
    size_reason: str
    shortfall: float  # articles by which the targets are missed in total; 0 when every one is met
    targets: dict[str, dict[str, float]]
    supply: dict[str, dict[str, int]]
    decisions: dict[str, int] = field(default_factory=dict)


@dataclass
class _Solution:
    size: int
    shortfall: float
    take: np.ndarray  # articles taken from each unit


class _QuotaModel:
    """The quotas as a small integer programme over units of interchangeable candidates.

    A unit is every candidate sharing domain, content type, audience, topic type and template; a
    seed with more candidates than max_per_seed gets units of its own so its cap can be stated.
    Variables: articles taken per unit, the release size N, and a shortfall per target bound.
    """

    def __init__(
        self,
        units: pl.DataFrame,
        targets: Mapping[str, Mapping[str, float]],
        floors: Mapping[str, float],
        tolerance: float,
        max_per_seed: int,
        max_per_template: int | None,
    ):
        self.units, self.tolerance, self.n_units = units, tolerance, units.height
        self.available = units["row"].list.len().to_numpy().astype(float)
        self.quality = units["quality"].to_numpy()
        # (share, units holding the value) per target; (share, units of the domain) per floor
        self.bounds = [(share, self._members(dim, value)) for dim, shares in targets.items() for value, share in shares.items()]
        self.floor_rows = [(share, self._members("domain", domain)) for domain, share in floors.items()]
        # (units, cap): at most `cap` articles from these units together
        self.caps = [(self._members("unit_seed", s), max_per_seed) for s in units["unit_seed"].unique().sort() if s]
        if max_per_template is not None:
            self.caps += [(self._members("template_id", t), max_per_template) for t in units["template_id"].unique().sort()]

    def _members(self, column: str, value: str) -> np.ndarray:
        return np.flatnonzero(self.units[column].to_numpy() == value)

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

    def solve(self, sizes: tuple[int, int], fixed: bool) -> _Solution:
        """Least shortfall for a release size in `sizes`, then the largest size, then the best quality.

        With `fixed` the size is sizes[0] and each bound is the exact allowed range at that size; without
        it the size is free and the bounds are the tolerance band, linear in N (exact from 1/tolerance up).
        """
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

        U, n_slack = self.n_units, 2 * len(self.bounds) + len(self.floor_rows)
        n_var, N = U + 1 + n_slack, U
        rows, cols, vals, lower, upper = [], [], [], [], []

        def constraint(units: np.ndarray, n_coef: float, slack: int | None, slack_sign: float, lo: float, hi: float):
            r = len(lower)
            rows.extend([r] * len(units)), cols.extend(units.tolist()), vals.extend([1.0] * len(units))
            if n_coef:
                rows.append(r), cols.append(N), vals.append(-n_coef)
            if slack is not None:
                rows.append(r), cols.append(U + 1 + slack), vals.append(slack_sign)
            lower.append(lo), upper.append(hi)

        constraint(np.arange(U), 1.0, None, 0, 0.0, 0.0)  # sum of units = N
        size = sizes[0]
        tol = self.tolerance
        for k, (share, units) in enumerate(self.bounds):
            if fixed:
                low, high = allowed_range(share, size, tol)
                constraint(units, 0.0, 2 * k, 1.0, low, np.inf)
                constraint(units, 0.0, 2 * k + 1, -1.0, -np.inf, high)
            elif tol > 0:
                constraint(units, share - tol, 2 * k, 1.0, 0.0, np.inf)
                constraint(units, share + tol, 2 * k + 1, -1.0, -np.inf, 0.0)
            else:  # tolerance 0: the two whole numbers around share x N
                constraint(units, share, 2 * k, 1.0, -1 + 1e-3, np.inf)
                constraint(units, share, 2 * k + 1, -1.0, -np.inf, 1 - 1e-3)
        for j, (share, units) in enumerate(self.floor_rows):
            slack = 2 * len(self.bounds) + j
            if fixed:
                constraint(units, 0.0, slack, 1.0, floor_count(share, size), np.inf)
            else:
                constraint(units, share, slack, 1.0, -1 + 1e-3, np.inf)
        for units, cap in self.caps:
            constraint(units, 0.0, None, 0, -np.inf, cap)

        matrix = coo_array((vals, (rows, cols)), shape=(len(lower), n_var))
        low_b = np.concatenate([np.zeros(U), [sizes[0]], np.zeros(n_slack)])
        high_b = np.concatenate([self.available, [sizes[1]], np.full(n_slack, np.inf)])
        integrality = np.concatenate([np.ones(U + 1), np.zeros(n_slack)])
        options = {"mip_rel_gap": 0.0, "time_limit": 120.0, "disp": False}

        def run(objective, extra=()):
            constraints = [LinearConstraint(matrix, lower, upper), *extra]
            result = milp(objective, integrality=integrality, bounds=Bounds(low_b, high_b), constraints=constraints, options=options)
            if result.x is None:
                raise RuntimeError(f"the quota solver found no allocation: {result.message}")
            return result

        # 1. the least shortfall; 2. within it, the most articles, then the best quality.
        slack_only = np.concatenate([np.zeros(U + 1), np.ones(n_slack)])
        shortfall = float(run(slack_only).fun)
        keep_shortfall = LinearConstraint(slack_only, -np.inf, shortfall + 1e-6)
        gain = np.concatenate([-self.quality / (sizes[1] + 1), [-1.0], np.zeros(n_slack)])
        best = run(gain, [keep_shortfall])
        take = np.round(best.x[:U]).astype(int)
        return _Solution(int(take.sum()), round(shortfall, 6), take)


def _units(rows: pl.DataFrame, max_per_seed: int) -> pl.DataFrame:
    over_cap = rows.group_by("seed_id").len().filter(pl.col("len") > max_per_seed)["seed_id"]
    keys = [*QUOTA_DIMENSIONS, "template_id", "unit_seed"]
    return (
        rows.with_row_index("row")
        .with_columns(unit_seed=pl.when(pl.col("seed_id").is_in(over_cap.implode())).then("seed_id").otherwise(pl.lit("")))
        .group_by(keys)
        .agg(pl.col("row").sort(), pl.col("quality_score").fill_null(0.0).mean().alias("quality"))
        .sort(keys)
    )


def allocate(candidates: pl.DataFrame, settings: BalanceSettings) -> tuple[pl.DataFrame, QuotaPlan]:
    """Choose the synthetic articles of one language's release so that its shares meet the quotas.

    Returns one row per candidate (id, selected, decision) and the plan behind the choice: the
    release is as large as the caps allow while every target is met, shrinking no further than
    quotas.min_release_share; below that the targets give way as little as possible. Deterministic:
    within a unit the best quality scores go first, then the smaller ids.
    """
    quotas = settings.quotas
    rows = candidates.sort(["quality_score", "id"], descending=[True, False], nulls_last=True)
    supply = supply_per_value(rows, settings.max_per_seed)
    present = {dim: [v for v, n in values.items() if n] for dim, values in supply.items()}
    targets = resolve_targets(quotas, present)
    floors = {d: s for d, s in quotas.min_domain_share.items() if d in present["domain"]}
    units = _units(rows, settings.max_per_seed)

    model = _QuotaModel(units, targets, floors, quotas.tolerance, settings.max_per_seed, settings.max_per_template)
    capacity = model.capacity()
    limit = capacity if settings.max_per_language is None else min(capacity, settings.max_per_language)
    min_size = min(limit, math.ceil(quotas.min_release_share * limit - _EPS))
    why_limit = "every candidate the caps allow" if limit == capacity else f"max_per_language={settings.max_per_language}"

    solution = _Solution(0, 0.0, np.zeros(units.height, dtype=int))
    if limit > 0:
        # From 1/tolerance articles up the allowed ranges are the tolerance band, linear in N: one
        # solve finds the best size. Below that, rounding widens them, so small sizes are tried one by one.
        linear_from = math.ceil(1 / quotas.tolerance - _EPS) if quotas.tolerance > 0 else 0
        tried: list[_Solution] = []
        if limit >= max(linear_from, min_size):
            tried.append(model.solve((max(linear_from, min_size), limit), fixed=False))
        if not tried or tried[0].shortfall > 0:
            for size in range(min(limit, linear_from - 1), min_size - 1, -1):
                tried.append(model.solve((size, size), fixed=True))
                if tried[-1].shortfall == 0:
                    break
        solution = min(tried, key=lambda s: (s.shortfall, -s.size))

    selected = np.zeros(rows.height, dtype=bool)
    for unit_rows, take in zip(units["row"].to_list(), solution.take):
        selected[unit_rows[:take]] = True
    allocation = _decisions(rows, selected, settings)

    if solution.size == limit:
        reason = why_limit
    elif solution.shortfall == 0:
        blocker = _size_blocker(solution.size + 1, targets, supply, floors, quotas.tolerance)
        reason = f"shrunk from {limit} to meet the targets: at {solution.size + 1}, " + (
            blocker or "no choice of articles meets every target at once"
        )
    else:
        reason = (
            f"no size from {min_size} (min_release_share) to {limit} meets every target; "
            f"closest at {solution.size}, {solution.shortfall:g} articles short in total"
        )
    decided = dict(allocation.group_by("decision").len().sort("decision").iter_rows()) if allocation.height else {}
    plan = QuotaPlan(rows.height, capacity, min_size, solution.size, reason, solution.shortfall, targets, supply, decided)
    return allocation, plan


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


# --- achieved against target ------------------------------------------------------------------

REPORT_SCHEMA = {
    "dimension": pl.String,
    "value": pl.String,
    "kind": pl.String,  # target | floor
    "configured": pl.String,
    "target": pl.Float64,
    "achieved": pl.Float64,
    "released": pl.Int64,
    "supply": pl.Int64,
    "status": pl.String,  # met | supply_limited | absent | missed
    "note": pl.String,
}


def quota_report(
    composition: pl.DataFrame, quotas: QuotaSettings, real_share: float = 0.0
) -> pl.DataFrame:
    """Achieved against target for every quota, from the balance_composition model's rows.

    A target missed by more than the tolerance is `missed` (the check fails) unless the supply
    could not have met it at this release size: then it is `supply_limited`, and says why.
    A configured value with no candidates at all is `absent`.
    """
    synthetic = composition.filter(pl.col("dimension") != "source")
    released = {(d, v): int(n) for d, v, n in synthetic.select("dimension", "value", "released").iter_rows()}
    supply = {(d, v): int(n) for d, v, n in synthetic.select("dimension", "value", "supply").iter_rows()}
    size = int(composition.filter(pl.col("dimension") == "source").filter(pl.col("value") == "synthetic")["released"].sum())
    present = {d: [v for (dd, v), n in supply.items() if dd == d and n > 0] for d in QUOTA_DIMENSIONS}
    targets = resolve_targets(quotas, present)
    tol = quotas.tolerance
    rows: list[dict] = []

    for dim, shares in targets.items():
        configured = quotas.targets()[dim]
        bands = {v: allowed_range(t, size, tol) for v, t in shares.items()}
        for value, target in shares.items():
            count, have = released.get((dim, value), 0), supply.get((dim, value), 0)
            low, high = bands[value]
            if low <= count <= high:
                status, note = "met", ""
            elif count < low and have < low:
                status, note = "supply_limited", f"only {have} candidates; the target needs {low} of {size}"
            elif count > high:
                others = sum(min(supply.get((dim, w), 0), bands[w][1]) for w in shares if w != value)
                if others < size - high:
                    status, note = "supply_limited", f"the other values could fill only {others} of the {size - high} places left"
                else:
                    status, note = "missed", f"{count} released, at most {high} of {size} allowed; the other values could fill the rest"
            else:
                status, note = "missed", f"{count} released, at least {low} of {size} needed; {have} were available"
            rows.append(_report_row(dim, value, "target", _configured(configured, value), target, count, size, have, status, note))
        if isinstance(configured, dict):
            for value, share in configured.items():
                if value not in shares and share > 0:
                    rows.append(_report_row(dim, value, "target", f"{share:.3f}", share, 0, size, 0, "absent", "no candidates"))

    for domain, share in quotas.min_domain_share.items():
        count, have = released.get(("domain", domain), 0), supply.get(("domain", domain), 0)
        need = floor_count(share, size)
        if count >= need:
            status, note = "met", ""
        elif have < need:
            status, note = ("absent", "no candidates") if have == 0 else ("supply_limited", f"only {have} candidates; the floor needs {need} of {size}")
        else:
            status, note = "missed", f"{count} released, at least {need} of {size} needed; {have} were available"
        rows.append(_report_row("domain", domain, "floor", f">= {share:.3f}", share, count, size, have, status, note))

    if real_share > 0:
        source = composition.filter(pl.col("dimension") == "source")
        total = int(source["released"].sum())
        real = source.filter(pl.col("value") == "real")
        count, have = int(real["released"].sum()), int(real["supply"].sum())
        low, high = allowed_range(real_share, total, tol)
        if low <= count <= high:
            status, note = "met", ""
        elif count < low and have < low:
            status, note = "supply_limited", f"only {have} real texts; the share needs {low} of {total}"
        else:
            status, note = "missed", f"{count} real texts released, {low} to {high} of {total} expected"
        rows.append(_report_row("source", "real", "target", f"{real_share:.3f}", real_share, count, total, have, status, note))
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)


def _configured(spec, value: str) -> str:
    return "even" if spec == "even" else f"{float(spec.get(value, 0.0)):.3f}"


def _report_row(dim, value, kind, configured, target, count, size, have, status, note) -> dict:
    return {
        "dimension": dim, "value": value, "kind": kind, "configured": configured, "target": round(target, 4),
        "achieved": round(count / size, 4) if size else 0.0, "released": count, "supply": have,
        "status": status, "note": note,
    }


def report_markdown(report: pl.DataFrame) -> str:
    """The report as a Markdown table, for the UI and the dataset card."""
    lines = ["| dimension | value | target | achieved | released | supply | status |", "|---|---|---|---|---|---|---|"]
    for r in report.iter_rows(named=True):
        target = f"≥ {r['target']:.3f}" if r["kind"] == "floor" else f"{r['target']:.3f}"
        status = r["status"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(
            f"| {r['dimension']} | {r['value']} | {target} | {r['achieved']:.3f} | {r['released']} | {r['supply']} | {status} |"
        )
    return "\n".join(lines)
