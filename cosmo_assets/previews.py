"""Sample articles of a partition as Markdown, so a reader judges the text itself, not just its counts."""

from __future__ import annotations

from collections.abc import Mapping

from cosmo_assets.storage import Storage

# Per article stage: the rows to show (best first) with a title and a line of context.
_SAMPLES = {
    "filtered_articles": """
        SELECT coalesce(o.title, f.draft_id) AS title,
               concat_ws(' · ', o.content_type, o.audience, o.style, 'quality ' || round(f.quality_score, 2)) AS about,
               f.text
        FROM filtered_articles f LEFT JOIN outlines o
          ON o.outline_id = f.outline_id AND o.domain = f.domain AND o.language = f.language
        WHERE f.domain = $domain AND f.language = $language
        ORDER BY f.quality_score DESC, f.draft_id LIMIT $n""",
    "balanced_dataset": """
        SELECT title,
               concat_ws(' · ', domain, content_type, audience, style, 'quality ' || round(quality_score, 2)) AS about,
               text
        FROM balanced_dataset WHERE language = $language
        ORDER BY quality_score DESC, id LIMIT $n""",
}


def sample_articles(storage: Storage, stage: str, partition: Mapping[str, str], n: int = 2, max_chars: int = 1500) -> str | None:
    """The best `n` articles of a stage partition as Markdown; None for stages that hold no articles."""
    sql = _SAMPLES.get(stage)
    if sql is None:
        return None
    try:
        params = {k: v for k, v in {**partition, "n": n}.items() if f"${k}" in sql}
        rows = storage.query(sql, params)
    except Exception as exc:  # noqa: BLE001 - a preview must never fail the materialisation it describes
        return f"_no preview: {type(exc).__name__}: {exc}_"
    if rows.height == 0:
        return "_no articles in this partition_"
    blocks = []
    for title, about, text in rows.iter_rows():
        body = text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " …"
        blocks.append(f"### {title}\n\n*{about}*\n\n{body}")
    return "\n\n---\n\n".join(blocks)
