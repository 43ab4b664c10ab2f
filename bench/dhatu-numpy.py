#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The dhātu kernel (../shared/data/dhatu/README.md) in numpy + hashlib.

Two uses: the benchmark's baseline (bench/bench-dhatu.sh), and the
independent implementation tests/plugins/dhatu compares the plugin with on
texts that are not in reference.jsonl.

  dhatu-numpy.py --jsonl IN OUT   IN: JSON lines with "id" and "text"; OUT:
                                  JSON lines with id, vector, bases, ambiguity
  dhatu-numpy.py --count N        the seed corpus's first N texts, timed
                                  (not Python's start and imports): prints
                                  one JSON line (texts, seconds, rate,
                                  cpu_seconds, rate per CPU second)
"""

import argparse
import hashlib
import json
import sys
import time

import numpy as np

DHATUS = [b"RELATE", b"MODAL", b"EXIST", b"EVAL", b"COMM", b"CAUSE", b"ITER", b"DECIDE", b"FEEL"]
PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
SENTENCES = [
    "The quantum computational framework demonstrates significant algorithmic efficiency.",
    "Machine learning models require extensive parameter optimization techniques.",
    "Statistical analysis reveals correlation patterns in experimental data.",
    "Neural network architectures exhibit emergent computational properties.",
    "Mathematical formulations provide theoretical foundations for research.",
    "Scientific methodology ensures reproducible experimental results.",
    "Advanced algorithms solve complex optimization problems efficiently.",
    "Data structures implement efficient storage and retrieval mechanisms.",
    "Parallel processing enhances computational performance significantly.",
    "Research findings contribute to scientific knowledge advancement.",
]
# p^(j mod p), exact integers rounded once to float32: 10 x 9.
POWERS = np.array([[p ** (j % p) for j in range(9)] for p in PRIMES], dtype=np.float32)


def seed_text(i):
    return " Article %d: %s" % (i + 1, SENTENCES[i % 10])


def weights(texts):
    """Step 2: the 9 weights of each text (bytes), float32 N x 9."""
    prefixes = [hashlib.sha256(d + b"::") for d in DHATUS]
    w = np.empty((len(texts), 9), dtype=np.float32)
    for i, t in enumerate(texts):
        row = w[i]
        for d, prefix in enumerate(prefixes):
            h = prefix.copy()
            h.update(t)
            b = h.digest()
            row[d] = (b[0] + b[5] + b[13] + b[21] + b[29]) / 1024.0
    return w


def kernel(w):
    """Steps 3-5 on N x 9 float32 weights: vectors, bases, ambiguity."""
    s = w.sum(axis=1, dtype=np.float32)
    s[s == 0] = np.float32(1)
    v = w / s[:, None]
    bases = (v[:, None, :] * POWERS[None, :, :]).sum(axis=2, dtype=np.float32)
    m = bases.mean(axis=1, dtype=np.float32)
    var = ((bases - m[:, None]) ** 2).mean(axis=1, dtype=np.float32)
    q = bases / (bases.sum(axis=1, dtype=np.float32) + np.float32(1e-8))[:, None]
    h = -(q * np.log(q + np.float32(1e-8))).sum(axis=1, dtype=np.float32)
    ambiguity = np.float32(0.7) * h + np.float32(0.3) * var
    return v, bases, ambiguity


def run_jsonl(src, dst):
    ids, texts = [], []
    with open(src, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            ids.append(record["id"])
            texts.append(record["text"].encode("utf-8"))
    v, bases, ambiguity = kernel(weights(texts))
    with open(dst, "w", encoding="utf-8") as out:
        for i, ident in enumerate(ids):
            out.write(json.dumps({
                "id": ident,
                "vector": [float(x) for x in v[i]],
                "bases": [float(x) for x in bases[i]],
                "ambiguity": float(ambiguity[i]),
            }) + "\n")


def run_count(n, chunk):
    cpu_start = time.process_time()
    start = time.perf_counter()
    checksum = 0.0
    for first in range(0, n, chunk):
        texts = [seed_text(i).encode("utf-8") for i in range(first, min(n, first + chunk))]
        v, bases, ambiguity = kernel(weights(texts))
        checksum += float(ambiguity.astype(np.float64).sum())
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    print(json.dumps({"texts": n, "seconds": round(seconds, 3), "texts_per_s": round(n / seconds),
                      "cpu_seconds": round(cpu_seconds, 3),
                      "texts_per_cpu_s": round(n / cpu_seconds), "checksum": checksum}))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jsonl", nargs=2, metavar=("IN", "OUT"))
    parser.add_argument("--count", type=int)
    parser.add_argument("--chunk", type=int, default=65536)
    args = parser.parse_args()
    if args.jsonl:
        run_jsonl(*args.jsonl)
    elif args.count is not None:
        run_count(args.count, args.chunk)
    else:
        parser.error("give --jsonl IN OUT or --count N")
    return 0


if __name__ == "__main__":
    sys.exit(main())
