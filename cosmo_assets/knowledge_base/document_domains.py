"""Which domain each document seeds: seeds.yaml `documents.assign` = keywords (the domain whose rule words it
says most) or clusters (TF-IDF + k-means; each cluster to the nearest domain, or as configured; some excluded)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cosmo_assets.config import CosmoConfig
from cosmo_assets.knowledge_base.documents import Document


@dataclass
class Assignment:
    domain_of: dict[str, str | None]
    unassigned: int = 0
    excluded: int = 0
    clusters: list[dict] = field(default_factory=list)  # one row per cluster: the document_clusters table


def assign(config: CosmoConfig, path: Path, docs: Sequence[Document]) -> Assignment:
    settings = config.seeds.documents
    if settings.assign == "keywords" or not docs:
        return by_keywords(docs, settings.keyword_rules)
    return by_clusters(config, path, docs)


def by_keywords(docs: Sequence[Document], rules: dict[str, list[str]]) -> Assignment:
    """Each document to the domain whose rule words (whole words, any case) it says most; ties go to the
    domain listed first; a document saying none seeds nothing."""
    patterns = {d: re.compile(r"\b(?:" + "|".join(re.escape(w.lower()) for w in words) + r")\b")
                for d, words in rules.items() if words}
    domain_of: dict[str, str | None] = {}
    for doc in docs:
        text = f"{doc.title or ''}\n{doc.text}".lower()
        hits = {d: len(p.findall(text)) for d, p in patterns.items()}
        best = max(hits, key=lambda d: hits[d], default=None)
        domain_of[doc.doc_id] = best if best is not None and hits[best] > 0 else None
    return Assignment(domain_of, unassigned=sum(d is None for d in domain_of.values()))


def by_clusters(config: CosmoConfig, path: Path, docs: Sequence[Document]) -> Assignment:
    """TF-IDF over title and text, k-means (k capped at the documents), labelled by each centroid's top terms."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    settings = config.seeds.documents
    clusters = settings.clusters
    texts = [f"{d.title or ''}\n{d.text}" for d in docs]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=1)
    matrix = vectorizer.fit_transform(texts)
    k = min(clusters.k, len(docs))
    model = KMeans(n_clusters=k, random_state=clusters.random_seed, n_init=10).fit(matrix)
    terms = vectorizer.get_feature_names_out()
    profiles = vectorizer.transform([_profile(config, d) for d in config.domain_names])
    nearest = (model.cluster_centers_ @ profiles.T.toarray()).argmax(axis=1)
    domain_of: dict[str, str | None] = {}
    rows = []
    for c in range(k):
        members = [d for d, label in zip(docs, model.labels_) if label == c]
        domain = clusters.domains.get(c) or config.domain_names[int(nearest[c])]
        excluded = c in clusters.exclude
        for d in members:
            domain_of[d.doc_id] = None if excluded else domain
        top = model.cluster_centers_[c].argsort()[::-1][: clusters.top_terms]
        rows.append({
            "source_path": str(path), "cluster": c, "top_terms": [str(terms[i]) for i in top], "documents": len(members),
            "titles": [d.title or d.doc_id for d in members][:5], "assigned_domain": domain, "excluded": excluded,
            "how": "configured" if c in clusters.domains else "nearest domain",
        })
    excluded = sum(r["documents"] for r in rows if r["excluded"])
    return Assignment(domain_of, unassigned=excluded, excluded=excluded, clusters=rows)


def _profile(config: CosmoConfig, name: str) -> str:
    domain = config.domain(name)
    return " ".join([domain.title, domain.description, *config.seeds.documents.keyword_rules.get(name, [])])
