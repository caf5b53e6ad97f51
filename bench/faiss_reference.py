"""FAISS on the same vectors and queries as `faceprint bench search`, for the side-by-side table.

Reads raw little-endian float32 matrices written by faceprint, runs exact (IndexFlatIP) and
HNSW (IndexHNSWFlat, inner product, the same M / efConstruction / efSearch values), and prints
one JSON object. Needs `pip install faiss-cpu numpy`.
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
