"""Code versions: a stage's code is every module of the package it imports, so editing any of them makes
the stage's partitions stale."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from cosmo_assets.stage_code import PACKAGE_ROOT, STAGE_MODULES, stage_files

# Run against a copy of the package: the fingerprint of a filtered_articles partition, and what changed
# since `recorded` (the digests of an earlier fingerprint), as the staleness verdicts read it.
FINGERPRINT = """
import json, sys
from cosmo_assets.config import load_config
from cosmo_assets.fingerprints import changed_inputs, fingerprint
current = fingerprint(load_config(sys.argv[1]), "filtered_articles", {"domain": "science", "language": "en"}, 2)
recorded = json.loads(sys.argv[2]) if len(sys.argv) > 2 else current.digests()
print(json.dumps({"digests": current.digests(), "changed": changed_inputs(recorded, current)}))
"""


def _fingerprint(copy, recorded: dict | None = None) -> dict:
    args = [sys.executable, "-c", FINGERPRINT, str(PACKAGE_ROOT.parent / "configs")]
    out = subprocess.run(args + ([json.dumps(recorded)] if recorded else []), capture_output=True, text=True,
                         check=True, timeout=120, cwd=copy, env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_editing_any_module_under_filters_makes_filtered_articles_stale(tmp_path):
    shutil.copytree(PACKAGE_ROOT, tmp_path / "cosmo_assets", ignore=shutil.ignore_patterns("__pycache__"))
    filters = sorted((tmp_path / "cosmo_assets" / "filters").rglob("*.py"))
    assert len(filters) >= 8  # quality, language, alignment, judge, decontamination, dedup, text, kernels, ...
    made = _fingerprint(tmp_path)["digests"]
    for module in filters:
        original = module.read_text(encoding="utf-8")
        module.write_text(original + "\n# a rule changed\n", encoding="utf-8")
        [reason] = _fingerprint(tmp_path, made)["changed"]
        assert reason.startswith("code of filtered_articles changed"), (module.name, reason)
        module.write_text(original, encoding="utf-8")
    assert _fingerprint(tmp_path, made)["changed"] == []


def test_each_stage_covers_the_modules_it_imports_and_leaves_out_plumbing():
    def names(stage: str) -> set[str]:
        return {str(p.relative_to(PACKAGE_ROOT)) for p in stage_files(stage)}

    assert {m for m in names("filtered_articles") if m.startswith("filters/")} == {
        str(p.relative_to(PACKAGE_ROOT)) for p in (PACKAGE_ROOT / "filters").rglob("*.py")
    }
    assert {"knowledge_base/registry.py", "knowledge_base/wikidata.py", "dates.py"} <= names("seeds")
    assert "stages/quotas.py" in names("balanced_dataset") and "stages/charts.py" in names("dataset_export")
    for stage in STAGE_MODULES:
        assert not any(m.startswith(("config/", "llm/")) or m == "storage.py" for m in names(stage)), stage
