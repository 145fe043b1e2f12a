"""CSV and Parquet knowledge bases: one row per entity, read in a stream through the column mapping in config."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cosmo_assets.config import SeedLimits, TabularSource
from cosmo_assets.knowledge_base.records import (
    BAD_ENCODING,
    INVALID_ROW,
    OVERSIZED_FIELD,
    BadRow,
    Entity,
    EntityFilter,
    RowProblem,
    SeedFileError,
    check_entity,
    clip_raw,
    open_binary,
)

_PARQUET_BATCH_ROWS = 4096


def read_tabular(
    path: Path, source: TabularSource, language: str, wanted: EntityFilter, limits: SeedLimits
) -> Iterator[Entity | BadRow]:
    rows = _csv_rows(path, source, limits) if source.kind == "csv" else _parquet_rows(path, source)
    mapping = source.columns
    for where, row in rows:
        if isinstance(row, RowProblem):
            yield BadRow.of(where, row)
            continue
        try:
            values = {column: _text(value, column) for column, value in row.items()}
        except RowProblem as problem:
            try:
                source_id = _text(row.get(mapping.id), mapping.id).strip() or None
            except RowProblem:
                source_id = None
            yield BadRow.of(where, problem, source_id=source_id, raw=repr(row))
            continue
        if mapping.language and values.get(mapping.language, "").strip() != language:
            continue
        source_id = values.get(mapping.id, "").strip()
        keywords = _split(values.get(mapping.keywords or "", ""), source.list_separator)
        classes = _split(values.get(mapping.instance_of or "", ""), source.list_separator)
        title = values.get(mapping.title, "").strip()
        description = values.get(mapping.description or "", "").strip()
        if not wanted.wants(source_id, classes, [title, description, *keywords]):
            continue
        entity = Entity(
            source_id=source_id,
            title=title,
            topic_type=_topic_type(values.get(mapping.topic_type or "", "").strip(), source),
            description=description,
            facts=[{"property": prop, "value": values[col].strip()} for col, prop in source.facts.items() if values.get(col, "").strip()],
            keywords=keywords,
            instance_of=classes,
            location=where,
        )
        try:
            if not source_id:
                raise RowProblem(INVALID_ROW, f"column {mapping.id!r} (columns.id) is empty")
            yield check_entity(entity, limits)
        except RowProblem as problem:
            yield BadRow.of(where, problem, source_id=source_id or None, raw=clip_raw(repr(row)))


def _topic_type(value: str, source: TabularSource) -> str:
    if not value:
        return source.topic_type or ""
    return source.topic_types.get(value, value)  # an unmapped value that is no topic type is quarantined


def _split(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator) if part.strip()] if value else []


def _text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RowProblem(BAD_ENCODING, f"column {column!r}: not valid UTF-8 at byte {exc.start}") from None
    return str(value)


def _needed_columns(source: TabularSource) -> list[str]:
    mapped = [c for c in source.columns.model_dump().values() if c]
    return list(dict.fromkeys([*mapped, *source.facts]))


def _check_header(path: Path, source: TabularSource, header: list[str]) -> None:
    missing = [c for c in _needed_columns(source) if c not in header]
    if missing:
        raise SeedFileError(
            f"{path}: columns {missing} named in the domain's source config (columns / facts) are not in the file; "
            f"it has {header}"
        )


def _csv_rows(path: Path, source: TabularSource, limits: SeedLimits) -> Iterator[tuple[str, dict[str, Any] | RowProblem]]:
    # Our own size check stands in for the csv module's; its default 128 KB limit would stop the file.
    csv.field_size_limit(max(limits.row_bytes, 131072))
    with open_binary(path) as binary:
        # surrogateescape keeps undecodable bytes as lone surrogates, so the row (not the file) is refused.
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=source.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise SeedFileError(f"{path}: the file is empty; expected a header row") from None
        header = [h.lstrip("\ufeff").strip() for h in header]
        _check_header(path, source, header)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield f"line {reader.line_num}", RowProblem(INVALID_ROW, f"not valid CSV: {exc}")
                continue
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if sum(len(c) for c in cells) > limits.row_bytes:
                yield where, RowProblem(OVERSIZED_FIELD, f"the row is longer than limits.row_bytes={limits.row_bytes}")
                continue
            if len(cells) != len(header):
                yield where, RowProblem(INVALID_ROW, f"expected {len(header)} cells (the header's), got {len(cells)}")
                continue
            yield where, dict(zip(header, cells))


def _parquet_rows(path: Path, source: TabularSource) -> Iterator[tuple[str, dict[str, Any] | RowProblem]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for an unreadable file
        raise SeedFileError(f"{path}: not a readable Parquet file ({exc})") from None
    _check_header(path, source, parquet.schema_arrow.names)
    row_no = 0
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=_needed_columns(source)):
        # Strings as bytes: Parquet does not guarantee valid UTF-8, and one bad cell must not stop the batch.
        columns = [
            c.cast(pa.large_binary()) if pa.types.is_string(c.type) or pa.types.is_large_string(c.type) else c
            for c in batch.columns
        ]
        for row in pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist():
            row_no += 1
            yield f"row {row_no}", row
