"""Times onnxruntime on a corpus model, for comparison with `cargo bench --bench models`.

Usage (from the repository root, with the pinned venv of models/train/README.md):

    .venv/bin/python models/train/bench_ort.py [tests/fixtures/models/xgb_binary_300x5]

Uses the same rows as the Rust bench (the case's committed rows: row 0 for batch 1, all 16 for
batch 16), one intra-op thread (the Rust side is single-threaded) and onnxruntime's default, and reports the median of
many timed repetitions per batch size, like criterion's median.
"""

import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def median_us(sess, name, x, reps=2000, rounds=25):
    for _ in range(200):
        sess.run(None, {name: x})
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps // rounds):
            sess.run(None, {name: x})
        samples.append((time.perf_counter() - t0) / (reps // rounds) * 1e6)
    return statistics.median(samples)


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/models/xgb_binary_300x5"
    case = json.load(open(base + ".json"))
    rows = np.array(
        [[np.nan if v is None else v for v in r] for r in case["rows"]], dtype=np.float32
    )
    for threads in (1, 0):  # 0 = onnxruntime's default (one per core)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(base + ".onnx", opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        label = "1 thread" if threads == 1 else "default threads"
        for batch in (1, 16):
            x = np.ascontiguousarray(rows[:batch])
            us = median_us(sess, name, x)
            print(f"onnxruntime {ort.__version__} {label:>15}  batch {batch:>2}: median {us:.2f} us")


if __name__ == "__main__":
    main()
