"""Reads of the search index: hybrid search and similar tasks.

Hybrid ranking is reciprocal rank fusion (RRF): the chunks nearest to the query's vector (the
space's HNSW index over halfvec, cosine, AMAS_SEARCH_EF_SEARCH; re-sorted by exact distance) and
the chunks best matching it as full text (`websearch_to_tsquery`, `ts_rank_cd`) are ranked
separately, AMAS_SEARCH_CANDIDATES each, and a chunk scores sum(1 / (k + rank)) over the rankings
it appears in (k = AMAS_SEARCH_RRF_K). Neither score scale needs calibrating, and a chunk found
both ways rises to the top.

Visibility: a user sees chunks of the tasks `apps.tasks.selectors.task_visible` gives them (their
organisation's), and nothing else, in every query here.

The query is embedded once, treated as data of the highest classification being searched, so it
only goes to a provider allowed to see that level; the vector ranking covers the chunks embedded in
the space that provider answered with (full text covers every chunk).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from apps.core.exceptions import ApplicationError, ValidationFailed
from apps.core.vocabulary import Classification
from apps.knowledge.embedding import ann_sql, distance_sql, embed_texts, space_cast
from apps.knowledge.models import EmbeddingSpace
from apps.tasks.models import Task

# ts_headline marks matches with these; the passage is escaped, then they become <mark> tags.
_START, _STOP = "\x02", "\x03"
# Full-text queries use the 'english' config, the one Chunk.search_vector is generated with.


@dataclass(frozen=True)
class SearchFilters:
    task_type: str | None = None
    agent: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    classifications: tuple[str, ...] = ()


@dataclass
class SearchHit:
    chunk_id: int
    score: float
    vector_rank: int | None
    text_rank: int | None
    task_id: str
    task_title: str
    task_type: str
    classification: str
    source_kind: str
    result_id: str | None
    artefact_id: str | None
    agent: str
    created_at: datetime
    passage: str  # plain text
    highlight: str  # HTML: escaped passage with <mark> around matches


@dataclass
class SearchResponse:
    query: str
    hits: list[SearchHit]
    space: str | None = None  # the embedding space the vector ranking used
    notes: list[str] = field(default_factory=list)


def _visible_sql(user: Any) -> tuple[str, list[Any]]:
    """SQL selecting the ids of tasks the user may read, from the tasks app's own selector."""
    from django.core.exceptions import EmptyResultSet

    from apps.tasks.selectors import task_visible

    try:
        sql, params = task_visible(user=user).values("id").query.sql_with_params()
    except EmptyResultSet:  # e.g. an anonymous user: no task at all
        return "SELECT NULL::uuid WHERE false", []
    return sql, list(params)


def _where(user: Any, filters: SearchFilters) -> tuple[str, list[Any]]:
    visible, params = _visible_sql(user)
    clauses = [f"c.task_id IN ({visible})"]
    if filters.task_type:
        clauses.append("t.task_type = %s")
        params.append(filters.task_type)
    if filters.agent:
        clauses.append("c.agent = %s")
        params.append(filters.agent)
    if filters.date_from:
        clauses.append("c.source_created_at >= %s")
        params.append(filters.date_from)
    if filters.date_to:
        clauses.append("c.source_created_at <= %s")
        params.append(filters.date_to)
    if filters.classifications:
        clauses.append("t.classification = ANY(%s)")
        params.append(list(filters.classifications))
    return " AND ".join(clauses), params


def _query_level(filters: SearchFilters) -> str:
    levels = filters.classifications or tuple(c.value for c in Classification)
    return max(levels, key=Classification.rank)


def _scan_settings(cur: Any, candidates: int) -> None:
    """ef_search sets recall (bench/search.py) and must cover the candidates (a plain HNSW scan
    returns at most ef_search rows; 1,000 is pgvector's ceiling); the iterative scan goes on past
    it, and when the visibility and filter clauses drop rows (pgvector >= 0.8). relaxed_order is
    enough: the candidates are re-sorted by exact distance."""
    ef = min(1000, max(int(settings.AMAS_SEARCH_EF_SEARCH), candidates))
    cur.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
    cur.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")


def _vector_ranking(
    space: EmbeddingSpace, vector: list[float], where: str, params: list[Any], limit: int
) -> list[int]:
    candidates = limit
    sql = (
        # Composed of our own fragments only (ints, the space's cast, the visibility subquery
        # compiled by the ORM); every value is a parameter.
        "SELECT near.id FROM ("  # noqa: S608
        "  SELECT c.id, e.vector FROM knowledge_chunkembedding e "
        "  JOIN knowledge_chunk c ON c.id = e.chunk_id "
        "  JOIN tasks_task t ON t.id = c.task_id "
        f" WHERE e.space_id = {int(space.pk)} AND {where} "
        f" ORDER BY {ann_sql(space)} LIMIT %s"
        f") near ORDER BY {distance_sql(space, 'near.vector')}, near.id LIMIT %s"
    )
    literal = _vector_literal(vector)
    with transaction.atomic(), connection.cursor() as cur:
        _scan_settings(cur, candidates)
        cur.execute(sql, [*params, literal, candidates, literal, limit])
        return [row[0] for row in cur.fetchall()]


def _text_ranking(query: str, where: str, params: list[Any], limit: int) -> list[int]:
    sql = (
        "SELECT c.id FROM knowledge_chunk c "  # noqa: S608 - as above
        "JOIN tasks_task t ON t.id = c.task_id, "
        "websearch_to_tsquery('english', %s) q "
        f"WHERE c.search_vector @@ q AND {where} "
        "ORDER BY ts_rank_cd(c.search_vector, q) DESC, c.id LIMIT %s"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [query, *params, limit])
        return [row[0] for row in cur.fetchall()]


def rrf(rankings: list[list[int]], *, k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists (best first): [(id, score)], best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for position, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + position)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _highlight(headline: str) -> tuple[str, str]:
    plain = headline.replace(_START, "").replace(_STOP, "")
    marked = html.escape(headline).replace(_START, "<mark>").replace(_STOP, "</mark>")
    return plain, marked


def _hits(
    ids_scores: list[tuple[int, float]], query: str, ranks: dict[str, dict[int, int]]
) -> list[SearchHit]:
    if not ids_scores:
        return []
    ids = [pk for pk, _ in ids_scores]
    options = f'StartSel={_START}, StopSel={_STOP}, MaxWords=40, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "'  # noqa: E501
    sql = (
        "SELECT c.id, c.task_id, t.title, t.task_type, t.classification, c.source_kind, c.result_id, "
        "c.artefact_id, c.agent, c.source_created_at, "
        "ts_headline('english', c.text, websearch_to_tsquery('english', %s), %s) "
        "FROM knowledge_chunk c JOIN tasks_task t ON t.id = c.task_id WHERE c.id = ANY(%s)"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [query, options, ids])
        rows = {row[0]: row for row in cur.fetchall()}
    hits = []
    for pk, score in ids_scores:
        row = rows.get(pk)
        if row is None:
            continue
        _, task_id, title, task_type, level, kind, result_id, artefact_id, agent, created, headline = row
        plain, marked = _highlight(headline)
        hits.append(
            SearchHit(
                chunk_id=pk,
                score=score,
                vector_rank=ranks["vector"].get(pk),
                text_rank=ranks["text"].get(pk),
                task_id=str(task_id),
                task_title=title,
                task_type=task_type,
                classification=level,
                source_kind=kind,
                result_id=str(result_id) if result_id else None,
                artefact_id=str(artefact_id) if artefact_id else None,
                agent=agent,
                created_at=created,
                passage=plain,
                highlight=marked,
            )
        )
    return hits


def search(*, user: Any, query: str, k: int = 10, filters: SearchFilters | None = None) -> SearchResponse:
    """The k best passages for `query` among what `user` may read."""
    filters = filters or SearchFilters()
    query = query.strip()
    if not query:
        raise ValidationFailed("Say what to search for (q).")
    if len(query) > 1000:
        raise ValidationFailed("The query is too long (at most 1,000 characters).")
    for level in filters.classifications:
        if level not in Classification.values:
            raise ValidationFailed(f"Unknown classification {level!r}.")
    k = max(1, min(int(k), 100))
    candidates = max(k, settings.AMAS_SEARCH_CANDIDATES)
    where, params = _where(user, filters)
    response = SearchResponse(query=query, hits=[])

    vector_ids: list[int] = []
    try:
        embedded = embed_texts([query], classification=_query_level(filters), purpose="search")
    except ApplicationError as exc:
        response.notes.append(f"Vector ranking unavailable: {exc.message}")
    else:
        response.space = str(embedded.space)
        vector_ids = _vector_ranking(embedded.space, embedded.vectors[0], where, params, candidates)
    text_ids = _text_ranking(query, where, params, candidates)

    fused = rrf([vector_ids, text_ids], k=settings.AMAS_SEARCH_RRF_K)[:k]
    ranks = {
        "vector": {pk: i for i, pk in enumerate(vector_ids, start=1)},
        "text": {pk: i for i, pk in enumerate(text_ids, start=1)},
    }
    response.hits = _hits(fused, query, ranks)
    return response


@dataclass
class SimilarTask:
    task: Task
    similarity: float  # cosine similarity of the best-matching passages, 0..1


def similar_tasks(*, user: Any, task: Task, limit: int = 5) -> list[SimilarTask]:
    """Tasks the user may read whose indexed text is nearest to this task's (the mean of its
    passages' vectors), best first. Embeds the task's text on the fly if it is not indexed yet."""
    from apps.knowledge.chunking import task_text

    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.space_id, count(*) FROM knowledge_chunkembedding e "
            "JOIN knowledge_chunk c ON c.id = e.chunk_id WHERE c.task_id = %s "
            "GROUP BY e.space_id ORDER BY count(*) DESC, e.space_id DESC LIMIT 1",
            [task.pk],
        )
        row = cur.fetchone()
    if row is not None:
        space = EmbeddingSpace.objects.get(pk=row[0])
        with connection.cursor() as cur:
            cast = space_cast(space)
            cur.execute(
                f"SELECT avg(e.vector::{cast})::text FROM knowledge_chunkembedding e "  # noqa: S608
                "JOIN knowledge_chunk c ON c.id = e.chunk_id WHERE c.task_id = %s AND e.space_id = %s",
                [task.pk, space.pk],
            )
            centre = cur.fetchone()[0]
    else:
        text = task_text(title=task.title, description=task.description, target=task.target)
        try:
            embedded = embed_texts([text], classification=task.classification, task=task, purpose="search")
        except ApplicationError:
            return []
        space, centre = embedded.space, _vector_literal(embedded.vectors[0])

    visible, params = _visible_sql(user)
    passages = max(limit * 20, 100)  # nearest passages, grouped into tasks
    candidates = passages
    sql = (
        "SELECT task_id, min(distance) AS best FROM ("  # noqa: S608 - see _vector_ranking
        f"  SELECT near.task_id, {distance_sql(space, 'near.vector')} AS distance FROM ("
        "    SELECT c.task_id, e.vector FROM knowledge_chunkembedding e "
        "    JOIN knowledge_chunk c ON c.id = e.chunk_id "
        f"   WHERE e.space_id = {int(space.pk)} AND c.task_id <> %s AND c.task_id IN ({visible}) "
        f"   ORDER BY {ann_sql(space)} LIMIT %s"
        "  ) near ORDER BY distance LIMIT %s"
        ") nearest GROUP BY task_id ORDER BY best LIMIT %s"
    )
    with transaction.atomic(), connection.cursor() as cur:
        _scan_settings(cur, candidates)
        cur.execute(sql, [centre, task.pk, *params, centre, candidates, passages, limit])
        ranked = cur.fetchall()
    tasks = Task.objects.in_bulk([task_id for task_id, _ in ranked])
    return [
        SimilarTask(task=tasks[task_id], similarity=max(0.0, 1.0 - float(best)))
        for task_id, best in ranked
        if task_id in tasks
    ]
