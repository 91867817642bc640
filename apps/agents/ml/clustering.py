"""Clustering of documents (by router embeddings when there is a router, else TF-IDF) and of
numeric rows, with k chosen by silhouette when not given and labels from what sets each cluster
apart."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler, normalize

from apps.agents.analysis.tabular import Column
from apps.agents.analysis.text import ALL_STOPWORDS
from apps.agents.ml.features import numeric_matrix

SILHOUETTE_SAMPLE = 2000


def choose_k(vectors: np.ndarray, *, k: int | None, seed: int, metric: str) -> tuple[int, dict[int, float]]:
    n = len(vectors)
    if k is not None:
        return max(1, min(k, n)), {}
    scores: dict[int, float] = {}
    for candidate in range(2, min(10, n - 1) + 1):
        labels = KMeans(n_clusters=candidate, n_init=10, random_state=seed).fit_predict(vectors)
        if len(set(labels)) < 2:
            continue
        scores[candidate] = round(
            float(
                silhouette_score(
                    vectors, labels, metric=metric, sample_size=min(n, SILHOUETTE_SAMPLE), random_state=seed
                )
            ),
            4,
        )
    if not scores:
        return 1, scores
    return max(scores, key=lambda c: (scores[c], -c)), scores


def tfidf(texts: list[str], *, max_features: int) -> tuple[Any, list[str]]:
    vectorizer = TfidfVectorizer(
        stop_words=sorted(ALL_STOPWORDS),
        max_features=max_features,
        sublinear_tf=True,
        ngram_range=(1, 2),
        min_df=1,
        token_pattern=r"(?u)\b[^\W\d_][\w-]{2,}\b",
    )
    matrix = vectorizer.fit_transform(texts)
    return matrix, list(vectorizer.get_feature_names_out())


def cluster_documents(
    names: list[str],
    texts: list[str],
    *,
    embeddings: list[list[float]] | None,
    k: int | None,
    seed: int,
    max_features: int,
) -> dict[str, Any]:
    if len(texts) < 3:
        return {"error": f"{len(texts)} document(s): clustering needs at least three"}
    weights, vocabulary = tfidf(texts, max_features=max_features)
    if embeddings is not None:
        vectors = normalize(np.array(embeddings, dtype=float))
        source = "embeddings"
    else:
        vectors = normalize(weights.toarray())
        source = "tfidf"
    k, silhouettes = choose_k(vectors, k=k, seed=seed, metric="cosine")
    labels = (
        KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)
        if k > 1
        else np.zeros(len(texts), int)
    )
    dense = weights.toarray()
    overall = dense.mean(axis=0)
    clusters: list[dict[str, Any]] = []
    for cluster in range(k):
        members = np.where(labels == cluster)[0]
        distinct = dense[members].mean(axis=0) - overall
        terms = [vocabulary[i] for i in np.argsort(-distinct)[:5] if distinct[i] > 0]
        clusters.append(
            {
                "cluster": cluster,
                "size": int(len(members)),
                "label": ", ".join(terms[:3]) or "misc",
                "top_terms": terms,
                "members": [names[i] for i in members[:100]],
            }
        )
    clusters.sort(key=lambda c: -c["size"])
    return {
        "kind": "documents",
        "vectors": source,
        "k": k,
        "silhouette_by_k": silhouettes,
        "silhouette": _silhouette(vectors, labels, seed, "cosine"),
        "clusters": clusters,
        "assignments": [{"item": names[i], "cluster": int(labels[i])} for i in range(len(names))][:5000],
        "_projection": _project(vectors, labels, seed),
    }


def cluster_rows(columns: list[Column], *, k: int | None, seed: int, exclude: set[str]) -> dict[str, Any]:
    matrix = numeric_matrix(columns, exclude=exclude)
    if not matrix.names:
        return {"error": "no numeric columns to cluster on"}
    if len(matrix.values) < 3:
        return {"error": "fewer than three rows"}
    scaled = StandardScaler().fit_transform(matrix.values)
    k, silhouettes = choose_k(scaled, k=k, seed=seed, metric="euclidean")
    model = KMeans(n_clusters=max(k, 1), n_init=10, random_state=seed).fit(scaled)
    labels = model.labels_
    clusters: list[dict[str, Any]] = []
    for cluster in range(max(k, 1)):
        members = np.where(labels == cluster)[0]
        centre_z = model.cluster_centers_[cluster]
        order = np.argsort(-np.abs(centre_z))[:3]
        label = (
            ", ".join(
                f"{'high' if centre_z[i] > 0 else 'low'} {matrix.names[i]}"
                for i in order
                if abs(centre_z[i]) >= 0.5
            )
            or "typical"
        )
        clusters.append(
            {
                "cluster": cluster,
                "size": int(len(members)),
                "label": label,
                "centroid": {
                    name: round(float(matrix.values[members, j].mean()), 4)
                    for j, name in enumerate(matrix.names)
                },
                "distinguishing": [
                    {"feature": matrix.names[i], "z": round(float(centre_z[i]), 2)} for i in order
                ],
                "rows": [int(r) for r in members[:100]],
            }
        )
    clusters.sort(key=lambda c: -c["size"])
    return {
        "kind": "rows",
        "vectors": "standardised numeric columns",
        "features": matrix.names,
        "ignored_columns": matrix.ignored,
        "k": k,
        "silhouette_by_k": silhouettes,
        "silhouette": _silhouette(scaled, labels, seed, "euclidean"),
        "clusters": clusters,
        "assignments": [int(v) for v in labels[:100_000]],
        "_projection": _project(scaled, labels, seed),
    }


def _silhouette(vectors: np.ndarray, labels: np.ndarray, seed: int, metric: str) -> float | None:
    if len(set(labels.tolist())) < 2 or len(labels) <= len(set(labels.tolist())):
        return None
    return round(
        float(
            silhouette_score(
                vectors,
                labels,
                metric=metric,
                sample_size=min(len(labels), SILHOUETTE_SAMPLE),
                random_state=seed,
            )
        ),
        4,
    )


def _project(vectors: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """2-D PCA projection for the chart (not part of the result JSON)."""
    if vectors.shape[1] < 2 or len(vectors) < 3:
        return None
    points = PCA(n_components=2, random_state=seed).fit_transform(vectors[:20_000])
    return points, labels[:20_000]


def projection_chart(projection: tuple[np.ndarray, np.ndarray], clusters: list[dict]) -> bytes:
    import io

    from matplotlib.figure import Figure

    points, labels = projection
    names = {c["cluster"]: c["label"] for c in clusters}
    figure = Figure(figsize=(6.5, 5))
    axis = figure.add_subplot(1, 1, 1)
    for cluster in sorted(set(labels.tolist())):
        mask = labels == cluster
        axis.scatter(
            points[mask, 0], points[mask, 1], s=14, label=f"{cluster}: {names.get(cluster, '')}"[:40]
        )
    axis.legend(fontsize=7, loc="best")
    axis.set_title("Clusters (PCA projection)")
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=96, bbox_inches="tight")
    return out.getvalue()
