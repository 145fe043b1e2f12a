"""Composition charts of a release: articles by domain, content type and audience, and a length
histogram, as PNG files (matplotlib's Agg renderer: no display, no global pyplot state)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

BAR_CHARTS = ("domain", "content_type", "audience")
_SOURCE_COLOURS = {"synthetic": "#4C72B0", "real": "#DD8452"}


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _bars(frame: pl.DataFrame, column: str, path: Path) -> None:
    counts = frame.group_by(column, "source").len().sort(column)
    values = sorted({v for v in counts[column].to_list() if v is not None})
    figure = _figure()
    axes = figure.add_subplot()
    bottom = [0] * len(values)
    for source in ("synthetic", "real"):
        got = dict(counts.filter(pl.col("source") == source).select(column, "len").iter_rows())
        heights = [got.get(v, 0) for v in values]
        if any(heights):
            axes.barh(values, heights, left=bottom, color=_SOURCE_COLOURS[source], label=source)
            bottom = [b + h for b, h in zip(bottom, heights)]
    axes.set_xlabel("articles")
    axes.set_title(f"Articles by {column.replace('_', ' ')}")
    axes.invert_yaxis()
    if frame.filter(pl.col("source") == "real").height:
        axes.legend(loc="lower right")
    figure.savefig(path, format="png")


def _length_histogram(frame: pl.DataFrame, path: Path) -> None:
    figure = _figure()
    axes = figure.add_subplot()
    lengths = [frame.filter(pl.col("source") == s)["token_count"].to_list() for s in ("synthetic", "real")]
    labels = [s for s, data in zip(("synthetic", "real"), lengths) if data]
    data = [d for d in lengths if d]
    if data:
        axes.hist(data, bins=20, stacked=True, label=labels, color=[_SOURCE_COLOURS[s] for s in labels])
        axes.legend(loc="upper right")
    axes.set_xlabel("tokens per article")
    axes.set_ylabel("articles")
    axes.set_title("Article length")
    figure.savefig(path, format="png")


def composition_charts(frame: pl.DataFrame, directory: Path) -> list[Path]:
    """Write domain.png, content_type.png, audience.png and length.png; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for column in BAR_CHARTS:
        paths.append(directory / f"{column}.png")
        _bars(frame, column, paths[-1])
    paths.append(directory / "length.png")
    _length_histogram(frame, paths[-1])
    return paths
