"""The drafts progress: a bar on a terminal (done/total, tokens/s, dollars against the forecast, ETA), plain
log lines elsewhere."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

from cosmo_assets.llm.client import Completion
from cosmo_assets.progress import DraftProgress


def completions(n: int) -> list[Completion]:
    return [Completion(key=f"d{i}", text="x", status="ok", prompt_tokens=10, completion_tokens=30, cost_usd=0.001,
                       cache_hit=i == 0) for i in range(n)]


def test_a_terminal_gets_a_bar_redrawn_in_place_and_the_log_one_summary(caplog):
    terminal = io.StringIO()
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress = DraftProgress(SimpleNamespace(log=log), 4, "science|en", forecast_usd=0.005, bar=terminal)
        for c in completions(4):
            progress.update(c)
    drawn = terminal.getvalue()
    assert drawn.startswith("\r") and drawn.endswith("\n") and drawn.count("\n") == 1  # redrawn, then left on screen
    last = drawn.rstrip("\n").split("\r")[-1]
    assert last.startswith("science|en [########################] 4/4 drafts, ")
    assert "$0.0030 of $0.0050 forecast" in last and "ETA 0m00s" in last and "tok/s" in last
    assert [r.getMessage() for r in caplog.records] == [
        f"drafts 4/4, {last.split(', ')[1].split()[0]} tokens/s, $0.0030 of $0.0050 forecast so far, 1 from cache, 0 not generated"
    ]


def test_without_a_terminal_progress_is_plain_log_lines(caplog, monkeypatch):
    monkeypatch.setenv("COSMO_PROGRESS", "lines")
    log = logging.getLogger("test.progress.lines")
    with caplog.at_level(logging.INFO, logger="test.progress.lines"):
        progress = DraftProgress(SimpleNamespace(log=log), 3, "science|en", every_s=0.0)
        for c in completions(3):
            progress.update(c)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[0] for line in lines] == ["drafts 1/3", "drafts 2/3", "drafts 3/3"]
    assert all("\r" not in line and "[" not in line for line in lines)
    assert lines[-1].endswith("$0.0020 so far, 1 from cache, 0 not generated")
