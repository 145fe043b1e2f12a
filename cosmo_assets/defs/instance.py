"""The project's Dagster instance class (dagster_home/dagster.yaml: instance_class): Dagster's own, with
two changes to its default SQLite storage: the `llm` pool holds on one machine, and a step waiting for
its slot takes it within a second of it being freed (below).

Dagster claims a pool slot by reading a free slot's id, then writing the step into that row. On SQLite
nothing locks the row in between (`FOR UPDATE` is a no-op there), so two runs reaching their drafts
steps in the same few milliseconds both write the same row and both run: two llama.cpp servers on a
small machine, twice the requests a hosted model's limit allows. Here the claim is one UPDATE that only
takes a row still free, which SQLite applies atomically; the loser waits as if the pool were full.
A `storage:` block in dagster.yaml (Postgres for team mode, deploy/) replaces this default entirely.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as db
import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_select
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from dagster._utils.concurrency import ConcurrencyClaimStatus, ConcurrencySlotStatus

BLOCKED_RECHECK_S = 1.0  # one indexed SQLite read a second per waiting step


class SlotSafeSqliteEventLogStorage(SqliteEventLogStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SlotSafeSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None) -> ConcurrencyClaimStatus:
        # A step waiting for the slot asks again every BLOCKED_RECHECK_S. Dagster's own wait grows by a tenth
        # at each try up to 15 s, so the third run of a backfill, waiting a minute for the `llm` slot, sat up
        # to 15 s idle after it was freed, at each hand-over: time nobody's drafts step used.
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        return status if status.is_claimed else status.with_sleep_interval(BLOCKED_RECHECK_S)

    def _claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str) -> ConcurrencySlotStatus:
        slots = ConcurrencySlotsTable
        free_slot = (
            db_select([slots.c.id])
            .where(db.and_(slots.c.concurrency_key == concurrency_key, slots.c.step_key.is_(None), slots.c.deleted.is_(False)))
            .limit(1)
            .scalar_subquery()
        )
        with self.index_connection() as conn:
            claimed = conn.execute(
                slots.update().values(run_id=run_id, step_key=step_key).where(db.and_(slots.c.id == free_slot, slots.c.step_key.is_(None)))
            ).rowcount
        return ConcurrencySlotStatus.CLAIMED if claimed else ConcurrencySlotStatus.BLOCKED


class SlotSafeSqliteStorage(DagsterSqliteStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = SlotSafeSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SlotSafeSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @property
    def event_storage_data(self) -> ConfigurableClassData:
        return _data(SlotSafeSqliteEventLogStorage, _event_logs_directory(self.base_dir))


class CosmoInstance(DagsterInstance):
    @classmethod
    def config_schema(cls) -> Mapping:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        return {
            **InstanceRef.config_defaults(base_dir),
            "storage": _data(SlotSafeSqliteStorage, base_dir),
            "event_log_storage": _data(SlotSafeSqliteEventLogStorage, _event_logs_directory(base_dir)),
        }


def _data(cls: type, base_dir: str) -> ConfigurableClassData:
    return ConfigurableClassData(__name__, cls.__name__, yaml.dump({"base_dir": base_dir}, default_flow_style=False))
