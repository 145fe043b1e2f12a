"""The main command's console log: Dagster's own lines, without the stack traces of failed steps.
The command prints why a step or check failed in its own words (run_report.py); the full traces stay
in the run's event log, shown by the UI."""

from __future__ import annotations

import logging
import sys

import dagster as dg

_CUT = "\n\nStack Trace:"


class _WithoutStackTraces(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CUT in message:
            record.msg, record.args = message.split(_CUT, 1)[0], ()
        return True


@dg.logger({"log_level": dg.Field(str, is_required=False, default_value="INFO")}, description="Console lines without stack traces.")
def concise_console(init_context) -> logging.Logger:
    log = logging.Logger("cosmo_assets.run", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s", "%H:%M:%S"))
    handler.addFilter(_WithoutStackTraces())
    log.addHandler(handler)
    return log
