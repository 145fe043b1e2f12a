"""Which stage partitions are missing or stale, and why; and what to run to bring them up to date.

A partition is stale when the inputs it was made from (its fingerprint) differ from the current
ones, when an upstream partition it read has been re-made with other rows (or made for the first
time) since, or when an upstream partition is itself stale: a change travels down the graph. An
upstream partition that is still missing does not make it stale: there is nothing better to make
it from yet. Knows nothing of
Dagster: callers pass what the latest materialisation of each partition recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cosmo_assets.fingerprints import Fingerprint, changed_inputs

MISSING, STALE, FRESH = "missing", "stale", "fresh"


def partition_key(partition: Mapping[str, str]) -> str:
    """The key Dagster shows: dimension values in dimension-name order, "science|en", or "en"."""
    return "|".join(partition[d] for d in sorted(partition))


def parse_partition_key(key: str) -> dict[str, str]:
    """`partition_key` read back: "science|en" -> {"domain": "science", "language": "en"}, "en" -> {"language": "en"}."""
    if "|" in key:
        domain, language = key.split("|")
        return {"domain": domain, "language": language}
    return {"language": key}


@dataclass(frozen=True)
class Made:
    """What the latest materialisation of one stage partition recorded."""

    inputs: Mapping[str, str]  # input name -> digest, as fingerprints.Fingerprint.digests()
    data_version: str | None
    upstream: Mapping[str, str] = field(default_factory=dict)  # "seeds/science|en" -> data version it read
    order: int | None = None  # where it sits in the event log: a later materialisation has a larger one


@dataclass(frozen=True)
class Verdict:
    stage: str
    partition: Mapping[str, str]
    state: str  # missing, stale or fresh
    reasons: tuple[str, ...] = ()
    made: Made | None = None

    @property
    def key(self) -> str:
        return partition_key(self.partition)

    @property
    def target(self) -> str:
        return f"{self.stage}/{self.key}"


def target_name(stage: str, partition: Mapping[str, str]) -> str:
    return f"{stage}/{partition_key(partition)}"


def upstream_partitions(
    partition: Mapping[str, str], parent_partitions: Iterable[Mapping[str, str]]
) -> list[Mapping[str, str]]:
    """The partitions of a parent stage that a partition reads: those agreeing on every shared dimension
    (science|en reads science|en; the language en reads every domain's |en)."""
    return [p for p in parent_partitions if all(p[d] == partition[d] for d in p.keys() & partition.keys())]


def assess(
    stages: Sequence[str],
    parents: Mapping[str, Sequence[str]],
    partitions: Mapping[str, Sequence[Mapping[str, str]]],
    current: Callable[[str, Mapping[str, str]], Fingerprint],
    made: Callable[[str, Mapping[str, str]], Made | None],
) -> list[Verdict]:
    """A verdict for every partition of every stage; `stages` in graph order (parents first)."""
    verdicts: dict[str, Verdict] = {}
    records: dict[str, Made | None] = {}
    for stage in stages:
        for partition in partitions[stage]:
            name = target_name(stage, partition)
            record = records[name] = made(stage, partition)
            if record is None:
                verdicts[name] = Verdict(stage, partition, MISSING, ("never materialised",))
                continue
            reasons = changed_inputs(record.inputs, current(stage, partition))
            for parent in parents.get(stage, ()):
                for upstream in upstream_partitions(partition, partitions[parent]):
                    up = target_name(parent, upstream)
                    if verdicts[up].state == MISSING:
                        continue  # nothing better to make from yet; once it is made, "was not there" below says so
                    if verdicts[up].state == STALE:
                        reasons.append(f"upstream {up} is stale")
                    elif up not in record.upstream:
                        reasons.append(f"upstream {up} was not there when this was made")
                    elif record.upstream[up] != records[up].data_version:
                        reasons.append(f"upstream {up} was re-made with other rows since")
            verdicts[name] = Verdict(stage, partition, STALE if reasons else FRESH, tuple(reasons), record)
    return list(verdicts.values())


@dataclass(frozen=True)
class Refresh:
    """One run to request: the stages of one partition that are missing or stale."""

    partition: Mapping[str, str]
    stages: tuple[str, ...]
    reasons: tuple[str, ...]  # what changed at the root; empty when only an upstream partition changed

    @property
    def key(self) -> str:
        return partition_key(self.partition)


def refreshes(verdicts: Iterable[Verdict], stages: Sequence[str], include_missing: bool = True) -> list[Refresh]:
    """Group what is not fresh among `stages` by partition: one Refresh per partition to run.

    With include_missing=False, a partition is refreshed only for staleness (something it was made
    from changed); partitions never made are left to whoever makes them.
    """
    by_key: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.stage in stages and verdict.state != FRESH:
            by_key.setdefault(verdict.key, []).append(verdict)
    plans = []
    for key in sorted(by_key):
        pending = by_key[key]
        if not include_missing and not any(v.state == STALE for v in pending):
            continue
        # A stale stage re-runs with every stage after it in the partition (they read what it makes).
        chosen = tuple(stages[min(stages.index(v.stage) for v in pending):])
        reasons = tuple(f"{v.stage}: {r}" for v in pending for r in v.reasons if not r.startswith("upstream "))
        plans.append(Refresh(pending[0].partition, chosen, reasons))
    return plans
