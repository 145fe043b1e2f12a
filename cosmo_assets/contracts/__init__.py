"""Data contracts: what each stage's output must satisfy.

- outcomes.py: what any check reports, one Outcome of expectations with a severity - no Dagster, no GX;
- rules.py: rules across tables or rows that great-expectations does not express on one frame;
- checks.py: polars checks of release tables, the export and the outline mix;
- suites.py, validation.py: the great-expectations suites per table and running them. They import
  great_expectations (5 s or more), so nothing here imports them: import them where a check runs.
"""

import os

# GX 1.24 has no usage statistics left (it opens no socket: test_contracts checks); the flag keeps
# analytics off should a release bring them back. It must be set before great_expectations is imported.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from cosmo_assets.contracts.checks import (  # noqa: E402
    check_accept_rates,
    check_allocation,
    check_candidates,
    check_export,
    check_outline_mix,
    check_quotas,
    check_real_text,
    check_rephrased,
    check_review_sample,
    unique_ids,
)
from cosmo_assets.contracts.outcomes import EXAMPLES, ExpectationResult, Outcome, Severity, expect  # noqa: E402
from cosmo_assets.contracts.rules import (  # noqa: E402
    articles_per_seed_within_cap,
    articles_per_template_within_cap,
    every_draft_decided_once,
    min_kept_articles,
    outlines_use_their_seed_facts,
    quarantined_share_within_limit,
)

__all__ = [
    "EXAMPLES", "ExpectationResult", "Outcome", "Severity", "expect",
    "articles_per_seed_within_cap", "articles_per_template_within_cap", "check_accept_rates", "check_allocation",
    "check_candidates", "check_export", "check_outline_mix", "check_quotas", "check_real_text", "check_rephrased",
    "check_review_sample",
    "every_draft_decided_once", "min_kept_articles", "outlines_use_their_seed_facts", "quarantined_share_within_limit",
    "unique_ids",
]
