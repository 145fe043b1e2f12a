"""Real text for hybrid mixes: the human-written corpora named in balance.yaml, read into one table.

A corpus is a Parquet or JSONL file with a `text` per row and, optionally, `id`, `title`, `domain`,
`topic_type`, `content_type` and `audience`. The release mixes these rows in at real_text.share,
tagged source = 'real' (dbt_like_sql/balanced_dataset.sql).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from cosmo_assets.config import TOPIC_TYPES, CosmoConfig, RealTextCorpus
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.llm.tokens import TokenUnit, token_unit
from cosmo_assets.storage import frame_schema

_OPTIONAL = ("id", "title", "domain", "topic_type", "content_type", "audience")


class RealTextError(ValueError):
    """A corpus file is unreadable or a row is malformed; the message names the file and the row."""


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(row number, row) pairs: the line number for JSONL, the 1-based row for Parquet."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise RealTextError(f"{path}: not a readable Parquet file: {exc}") from exc
        if "text" not in table.column_names:
            raise RealTextError(f"{path}: expected a column 'text', found {table.column_names}")
        yield from enumerate(table.to_pylist(), start=1)
    elif path.suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RealTextError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
                if not isinstance(row, dict):
                    raise RealTextError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                yield number, row
    else:
        raise RealTextError(f"{path}: expected a .parquet or .jsonl file")


def read_corpus(path: Path, corpus: RealTextCorpus, domains: list[str], unit: TokenUnit | None = None) -> pl.DataFrame:
    """The corpus's rows; token_count in `unit`, the release's one token unit (default: the word estimate)."""
    unit = unit or TokenUnit("real text", exact=False)
    rows, seen = [], {}
    for number, row in _rows(path):
        where = f"{path}:{number}"
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise RealTextError(f"{where}: field 'text': expected non-empty text, got {text!r}")
        for name in _OPTIONAL:
            if row.get(name) is not None and not isinstance(row[name], str):
                raise RealTextError(f"{where}: field '{name}': expected text, got {row[name]!r}")
        domain = row.get("domain") or corpus.domain
        if domain not in domains:
            expected = "a `domain` on the row or `domain` on the corpus in balance.yaml" if domain is None else f"one of {domains}"
            raise RealTextError(f"{where}: field 'domain': expected {expected}, got {domain!r}")
        topic_type = row.get("topic_type")
        if topic_type is not None and topic_type not in TOPIC_TYPES:
            raise RealTextError(f"{where}: field 'topic_type': expected one of {list(TOPIC_TYPES)}, got {topic_type!r}")
        source_id = row.get("id") or content_hash(text)
        if source_id in seen:
            raise RealTextError(f"{where}: field 'id': {source_id!r} already used on row {seen[source_id]}")
        seen[source_id] = number
        words = text.split()
        rows.append(
            {
                "id": stable_id("real", corpus.name, source_id),
                "language": corpus.language,
                "domain": domain,
                "corpus": corpus.name,
                "title": row.get("title") or " ".join(words[:8]),
                "text": text.strip(),
                "topic_type": topic_type,
                "content_type": row.get("content_type") or corpus.content_type,
                "audience": row.get("audience") or corpus.audience,
                "token_count": unit.count(text),
            }
        )
    return pl.DataFrame(rows, schema=frame_schema("real_text"))


def load_real_text(config: CosmoConfig, language: str) -> pl.DataFrame:
    """Every real text configured for `language`, from all its corpora."""
    frames = [
        read_corpus(config.real_text_path(corpus), corpus, config.domain_names, token_unit(config.model.model))
        for corpus in config.balance.real_text.corpora
        if corpus.language == language
    ]
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=frame_schema("real_text"))
    duplicated = frame.filter(pl.col("id").is_duplicated())["id"].unique().to_list()
    if duplicated:
        raise RealTextError(f"real_text: ids {duplicated[:5]} appear in more than one corpus row")
    return frame
