"""A small dbt-like runner: one SQL file is one model, `{{ ref('x') }}` names a dependency and
`{{ var('x') }}` a value that is bound as a query parameter, never formatted into the SQL text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_CALL = re.compile(r"^\s*(ref|var)\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)\s*$")


class SqlModelError(ValueError):
    """A model is malformed or failed; the message starts with its file and line."""


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: Path
    sql: str  # rendered: refs replaced by relation names, vars by $name placeholders
    refs: tuple[str, ...]  # other models
    sources: tuple[str, ...]  # stage tables
    vars: tuple[str, ...]
    description: str = ""  # the comment lines the file starts with


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _relation(name: str) -> str:
    return f'"model__{name}"'


def parse_model(path: Path, model_names: Iterable[str], sources: Iterable[str]) -> SqlModel:
    raw = path.read_text(encoding="utf-8")
    models, known_sources = set(model_names), set(sources)
    refs: list[str] = []
    tables: list[str] = []
    variables: list[str] = []

    def render(match: re.Match) -> str:
        call = _CALL.match(match.group(1))
        line = _line_of(raw, match.start())
        if not call:
            raise SqlModelError(
                f"{path}:{line}: expected {{{{ ref('name') }}}} or {{{{ var('name') }}}}, got {match.group(0)!r}"
            )
        kind, name = call.groups()
        if kind == "var":
            variables.append(name)
            return f"${name}"
        if name in models:
            refs.append(name)
            return _relation(name)
        if name in known_sources:
            tables.append(name)
            return f'"{name}"'
        raise SqlModelError(
            f"{path}:{line}: ref('{name}') names no model in {path.parent} and no table "
            f"(models: {sorted(models)}; tables: {sorted(known_sources)})"
        )

    sql = _TAG.sub(render, raw).rstrip().rstrip(";")
    header = []
    for line in raw.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    return SqlModel(
        path.stem, path, sql, tuple(dict.fromkeys(refs)), tuple(dict.fromkeys(tables)), tuple(dict.fromkeys(variables)),
        " ".join(header),
    )


class SqlProject:
    """The models in one directory, ordered by their refs."""

    def __init__(self, directory: str | Path, sources: Iterable[str]):
        self.directory = Path(directory)
        paths = sorted(self.directory.glob("*.sql"))
        names = [p.stem for p in paths]
        self.models = {p.stem: parse_model(p, names, sources) for p in paths}
        graph = {name: set(model.refs) for name, model in self.models.items()}
        try:
            self.order = list(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            cycle = exc.args[1]
            raise SqlModelError(
                f"{self.models[cycle[0]].path}:1: models depend on each other in a cycle: {' -> '.join(cycle)}"
            ) from None

    def upstream(self, name: str, stop_at: Iterable[str] = ()) -> list[str]:
        """`name` and every model it depends on, dependencies first; models in `stop_at` are
        included but not followed further."""
        if name not in self.models:
            raise SqlModelError(f"{self.directory}: no model named {name!r}; models: {sorted(self.models)}")
        stop = set(stop_at) - {name}
        needed, pending = set(), [name]
        while pending:
            current = pending.pop()
            if current not in needed:
                needed.add(current)
                if current not in stop:
                    pending.extend(self.models[current].refs)
        return [m for m in self.order if m in needed]

    def sources_of(self, name: str) -> list[str]:
        """The stage tables that `name` reads, directly or through other models."""
        return sorted({t for m in self.upstream(name) for t in self.models[m].sources})

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        variables: Mapping[str, Any],
        stored: Mapping[str, str] | None = None,
    ) -> pl.DataFrame:
        """Build `name` and its dependencies as temporary tables on `con`; return `name`'s rows.

        A model named in `stored` is not rebuilt: it is read with the SELECT given for it (its
        materialised table, say, filtered to the partition), whose $placeholders come from `variables`.
        """
        stored = {m: sql for m, sql in (stored or {}).items() if m != name}
        for model_name in self.upstream(name, stop_at=stored):
            model = self.models[model_name]
            sql = stored.get(model_name, model.sql)
            wanted = re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql) if model_name in stored else model.vars
            missing = [v for v in dict.fromkeys(wanted) if v not in variables]
            if missing:
                raise SqlModelError(f"{model.path}:1: var {missing} not given; given: {sorted(variables)}")
            params = {v: variables[v] for v in dict.fromkeys(wanted)}
            try:
                # The prefix stays on line 1, so DuckDB's "LINE n" matches the file's line n.
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_relation(model_name)} AS {sql}", params)
            except duckdb.Error as exc:
                if model_name in stored:
                    raise SqlModelError(f"{model.path}:1: reading the materialised {model_name}: {exc}") from exc
                line = re.search(r"LINE (\d+)", str(exc))
                raise SqlModelError(f"{model.path}:{line.group(1) if line else 1}: {exc}") from exc
        return con.execute(f"SELECT * FROM {_relation(name)}").pl()
