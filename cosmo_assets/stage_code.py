"""The source code behind each stage: the modules it starts from and every module of the package they
import, found by reading their import statements (lazy imports inside functions included). Its digest is
the stage's code version, so editing any module a stage uses makes the stage's partitions stale.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "cosmo_assets"
PACKAGE_ROOT = Path(__file__).resolve().parent

# Where each stage's code starts. balanced_dataset also owns the quota allocation it selects through
# (quota_allocation is a release model between stages, looked through like the SQL models).
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "seeds": ("stages/seeds.py",),
    "outlines": ("stages/outlines.py",),
    "drafts": ("stages/drafts.py",),
    "filtered_articles": ("stages/filtering.py",),
    "rephrased_articles": ("stages/rephrasing.py",),
    "balanced_dataset": ("stages/balancing.py", "stages/quotas.py"),
    "dataset_export": ("stages/export.py",),
}

# Plumbing that moves rows rather than shapes them is not followed: settings are fingerprinted as config
# inputs (config/), DuckDB access (storage.py) and the LLM transport (llm/) must not make every partition
# stale with a retry or lock fix.
PLUMBING = ("config", "storage.py", "llm")


def stage_files(stage: str, package_root: Path = PACKAGE_ROOT) -> list[Path]:
    """Every source file of the package that `stage`'s entry modules import, directly or not."""
    pending = [package_root / m for m in STAGE_MODULES[stage]]
    missing = [str(p.relative_to(package_root)) for p in pending if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"cosmo_assets/stage_code.py STAGE_MODULES[{stage!r}] names {missing}, not found under {package_root}")
    found: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        pending += [p for p in _imported(path, package_root) if not _is_plumbing(p, package_root)]
        pending += [d / "__init__.py" for d in path.parents if package_root in d.parents and (d / "__init__.py").is_file()]
    return sorted(found)


def code_version(stage: str, package_root: Path = PACKAGE_ROOT) -> str:
    """A digest of the names and bytes of `stage_files(stage)`."""
    digest = hashlib.sha256()
    for path in stage_files(stage, package_root):
        digest.update(str(path.relative_to(package_root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _is_plumbing(path: Path, package_root: Path) -> bool:
    return path.relative_to(package_root).parts[0] in PLUMBING


def _imported(path: Path, package_root: Path) -> list[Path]:
    """The package's modules `path` imports: `from cosmo_assets.x import y` gives x (its __init__ too) and
    x/y.py where y is a module."""
    files: list[Path] = []
    for dotted in _import_names(path):
        parts = dotted.split(".")[1:]
        for depth in range(1, len(parts) + 1):  # every package on the way runs its __init__
            files += _module_file(package_root, parts[:depth])
    return files


@functools.cache
def _import_names_cached(path: Path, size: int, mtime_ns: int) -> tuple[str, ...]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == PACKAGE:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]  # kept only where a module of that name exists
    return tuple(names)


def _import_names(path: Path) -> tuple[str, ...]:
    stat = path.stat()
    return _import_names_cached(path, stat.st_size, stat.st_mtime_ns)


def _module_file(package_root: Path, parts: list[str]) -> list[Path]:
    base = package_root.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return [base.with_suffix(".py")]
    if (base / "__init__.py").is_file():
        return [base / "__init__.py"]
    return []
