"""FAISS on the same vectors and queries as `faceprint bench search`, for the side-by-side table.

Reads raw little-endian float32 matrices written by faceprint, runs exact (IndexFlatIP) and
HNSW (IndexHNSWFlat, inner product, the same M / efConstruction / efSearch values), and, with
--codes, the indexes of the `"indexes"` table: IndexFlatIP on one and on every thread,
IndexBinaryFlat on faceprint's own sign codes (shortlist re-ranked with the float vectors, as
faceprint does), IVF-Flat over a range of nprobe, and 4-bit PQ fast-scan with exact
re-ranking (IndexRefineFlat). Each reports its top-1 rows; faceprint scores them like its own.
Prints one JSON object. Needs `pip install faiss-cpu numpy`.
"""

import argparse
import json
import time

import faiss
import numpy as np


def percentile_ms(samples, q):
    return float(np.percentile(np.array(samples) * 1e3, q))


def single_latencies(index, queries, k):
    faiss.omp_set_num_threads(1)
    times = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None, :], k)
        times.append(time.perf_counter() - started)
    return {"p50_ms": percentile_ms(times, 50), "p99_ms": percentile_ms(times, 99), "queries": len(times)}


def batch_throughput(index, queries, k, threads):
    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    _, ids = index.search(queries, k)
    elapsed = time.perf_counter() - started
    return len(queries) / elapsed, ids


def timed_entry(kind, queries, threads, single, search, **params):
    """One row of the table: `search(rows)` answers the queries of `rows` (a slice) with top-k
    row ids; single-query latency and batch throughput both on `threads`."""
    faiss.omp_set_num_threads(threads)
    times = []
    for i in range(min(single, len(queries))):
        started = time.perf_counter()
        search(slice(i, i + 1))
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    ids = search(slice(0, len(queries)))
    qps = len(queries) / (time.perf_counter() - started)
    return {"kind": kind, "threads": threads, "p50_ms": percentile_ms(times, 50), "p99_ms": percentile_ms(times, 99),
            "batch_qps": qps, "top1_rows": [int(i) for i in ids[:, 0]], **params}


def table(args, base, queries):
    n, dims, k, threads = base.shape[0], args.dims, args.k, args.threads
    thread_counts = sorted({1, threads})
    rows = []
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(dims)
    flat.add(base)
    build = time.perf_counter() - started
    for t in thread_counts:
        row = timed_entry("faiss_flat_ip", queries, t, args.exact_single_queries, lambda r: flat.search(queries[r], k)[1])
        rows.append({**row, "build_s": build, "bytes_per_face": dims * 4})

    codes = np.fromfile(args.codes, dtype=np.uint8).reshape(n, -1)
    query_codes = np.fromfile(args.query_codes, dtype=np.uint8).reshape(len(queries), -1)
    started = time.perf_counter()
    binary = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    binary.add(codes)
    build = time.perf_counter() - started
    for rerank in (100, 1000):
        def search(r, rerank=rerank):
            # Hamming shortlist on faceprint's codes, re-ranked exactly with numpy (in blocks of
            # queries, so a batch does not gather gigabytes of candidate vectors at once).
            _, short = binary.search(query_codes[r], rerank)
            out = np.empty((short.shape[0], k), dtype=short.dtype)
            qs = queries[r]
            for start in range(0, short.shape[0], 64):
                block = short[start:start + 64]
                scores = np.einsum("qd,qrd->qr", qs[start:start + 64], base[block])
                best = np.argsort(-scores, axis=1)[:, :k]
                out[start:start + 64] = np.take_along_axis(block, best, axis=1)
            return out
        for t in thread_counts:
            row = timed_entry("faiss_binary_flat_rerank", queries, t, args.single_queries, search, rerank=rerank)
            rows.append({**row, "build_s": build, "bytes_per_face": codes.shape[1] + dims * 4})

    sample = base[np.random.default_rng(0).choice(n, size=min(n, 100_000), replace=False)]
    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    nlist = max(16, int(4 * np.sqrt(n)))
    ivf = faiss.index_factory(dims, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    ivf.train(sample)
    ivf.add(base)
    build = time.perf_counter() - started
    for nprobe in (8, 32, 128):
        ivf.nprobe = nprobe
        for t in thread_counts:
            row = timed_entry("faiss_ivf_flat", queries, t, args.single_queries,
                              lambda r: ivf.search(queries[r], k)[1], nlist=nlist, nprobe=nprobe)
            rows.append({**row, "build_s": build, "bytes_per_face": dims * 4 + 8})

    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    pq = faiss.index_factory(dims, f"PQ{dims // 8}x4fs", faiss.METRIC_INNER_PRODUCT)
    pq.train(sample)
    refine = faiss.IndexRefineFlat(pq)
    refine.add(base)
    build = time.perf_counter() - started
    for k_factor in (10, 100):
        params = faiss.IndexRefineSearchParameters(k_factor=k_factor)
        for t in thread_counts:
            row = timed_entry("faiss_pq_fastscan_refine", queries, t, args.single_queries,
                              lambda r, p=params: refine.search(queries[r], k, params=p)[1], k_factor=k_factor)
            rows.append({**row, "build_s": build, "bytes_per_face": dims // 16 + dims * 4})
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--dims", type=int, required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=128)
    parser.add_argument("--ef-search", default="16,32,64,128,256")
    parser.add_argument("--exact-single-queries", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-hnsw", action="store_true")
    parser.add_argument("--codes", help="faceprint's sign codes of the vectors (64 bytes each)")
    parser.add_argument("--query-codes")
    parser.add_argument("--single-queries", type=int, default=1000)
    args = parser.parse_args()

    base = np.fromfile(args.vectors, dtype="<f4").reshape(-1, args.dims)
    queries = np.fromfile(args.queries, dtype="<f4").reshape(-1, args.dims)
    out = {"faiss_version": faiss.__version__, "n": int(base.shape[0]), "queries": int(queries.shape[0])}

    flat = faiss.IndexFlatIP(args.dims)
    flat.add(base)
    out["flat_single"] = single_latencies(flat, queries[: args.exact_single_queries], args.k)
    qps, truth = batch_throughput(flat, queries, args.k, args.threads)
    out["flat_batch_qps"] = qps
    out["flat_top_ids"] = truth.tolist()

    if args.codes:
        out["indexes"] = table(args, base, queries)

    if not args.skip_hnsw:
        hnsw = faiss.IndexHNSWFlat(args.dims, args.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = args.ef_construction
        faiss.omp_set_num_threads(args.threads)
        started = time.perf_counter()
        hnsw.add(base)
        out["hnsw_build_s"] = time.perf_counter() - started
        sweeps = []
        for ef in [int(e) for e in args.ef_search.split(",")]:
            hnsw.hnsw.efSearch = ef
            single = single_latencies(hnsw, queries, args.k)
            qps, ids = batch_throughput(hnsw, queries, args.k, args.threads)
            recall1 = float(np.mean(ids[:, 0] == truth[:, 0]))
            recall10 = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ids.tolist(), truth.tolist())]))
            sweeps.append({"ef_search": ef, **single, "batch_qps": qps, "recall_at_1": recall1, "recall_at_10": recall10})
        out["hnsw"] = sweeps
    print(json.dumps(out))


if __name__ == "__main__":
    main()
