"""Composition charts of a release: articles by domain, content type and audience, and a length
histogram, as PNG files (matplotlib's Agg renderer: no display, no global pyplot state).

Legends sit outside the plotting area, so no bar hides under them; axes that count articles have
whole-number ticks; the length histogram is in the release's token unit, with max_tokens marked."""

from __future__ import annotations

from pathlib import Path

import polars as pl

BAR_CHARTS = ("domain", "content_type", "audience")
_SOURCE_COLOURS = {"synthetic": "#4C72B0", "real": "#DD8452"}


def _figure(rows: int = 0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.2, max(3.6, 1.2 + 0.32 * rows)), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _whole_numbers(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _legend_outside(axes) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def _bars(frame: pl.DataFrame, column: str, path: Path) -> None:
    counts = frame.group_by(column, "source").len().sort(column)
    values = sorted({v for v in counts[column].to_list() if v is not None})
    figure = _figure(len(values))
    axes = figure.add_subplot()
    bottom = [0] * len(values)
    for source in ("synthetic", "real"):
        got = dict(counts.filter(pl.col("source") == source).select(column, "len").iter_rows())
        heights = [got.get(v, 0) for v in values]
        if any(heights):
            axes.barh(values, heights, left=bottom, color=_SOURCE_COLOURS[source], label=source)
            bottom = [b + h for b, h in zip(bottom, heights)]
    axes.set_xlabel("articles")
    axes.set_xlim(0, max(max(bottom, default=0) * 1.05, 1))  # the longest bar ends inside the frame
    _whole_numbers(axes.xaxis)
    axes.set_title(f"Articles by {column.replace('_', ' ')} (synthetic and real)")
    axes.invert_yaxis()
    _legend_outside(axes)
    figure.savefig(path, format="png")


def _length_histogram(frame: pl.DataFrame, path: Path, unit: str, max_tokens: int | None) -> None:
    figure = _figure()
    axes = figure.add_subplot()
    lengths = [frame.filter(pl.col("source") == s)["token_count"].to_list() for s in ("synthetic", "real")]
    labels = [s for s, data in zip(("synthetic", "real"), lengths) if data]
    data = [d for d in lengths if d]
    if data:
        axes.hist(data, bins=20, stacked=True, label=labels, color=[_SOURCE_COLOURS[s] for s in labels])
    if max_tokens:
        axes.axvline(max_tokens, color="#C44E52", linestyle="--", label=f"max_tokens = {max_tokens}")
    _legend_outside(axes)
    axes.set_xlabel(f"{unit} per article")
    axes.set_ylabel("articles")
    _whole_numbers(axes.yaxis)
    axes.set_title("Article length")
    figure.savefig(path, format="png")


def composition_charts(frame: pl.DataFrame, directory: Path, unit: str = "tokens", max_tokens: int | None = None) -> list[Path]:
    """Write domain.png, content_type.png, audience.png and length.png; return their paths.
    `unit`: the name of the token unit token_count is in; `max_tokens`: the generation limit, drawn as a line."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for column in BAR_CHARTS:
        paths.append(directory / f"{column}.png")
        _bars(frame, column, paths[-1])
    paths.append(directory / "length.png")
    _length_histogram(frame, paths[-1], unit, max_tokens)
    return paths
