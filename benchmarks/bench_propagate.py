"""How much do initlab's per-layer statistics cost next to the pass they describe?

Run: ``python benchmarks/bench_propagate.py`` (add ``--quick`` for a smaller run).

For the reference scenario (depth 250, width 256, batch 512, float32, tanh, glorot_uniform) it times,
interleaved in one run so machine noise hits both alike:

* ``propagate``: build the network (draw weights and inputs), forward + backward, every statistic;
* ``baseline``: build the same network the same way, then the minimal forward + backward written
  plainly in numpy (matrix products, activation and its derivative, dL/dW; no statistics at all).

and prints the medians and their ratio (goal <= 1.25). Then the peak memory (tracemalloc, which sees
numpy's allocations) of the largest classic scenario against the engine's own estimate, and how the
time grows with depth and with width.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from initlab.signal import network  # noqa: E402
from initlab.signal.scenario import Scenario, estimate_bytes  # noqa: E402

REFERENCE = Scenario(depth=250, width=256, batch=512, dtype="float32", activation="tanh", init="glorot_uniform")


def baseline(s: Scenario) -> float:
    """Build + the minimal forward/backward of ``s`` with no statistics; returns the (unused) loss."""
    net = network.build(s)
    act = net.activation
    hs = [net.x]
    h = net.x
    for w in net.weights:
        h = act.fn(h @ w)
        hs.append(h)
    g = net.target
    inv = net.x.dtype.type(1.0 / net.x.shape[0])
    for i in range(len(net.weights) - 1, -1, -1):
        delta = g * act.deriv_from_output(hs[i + 1])
        dw = hs[i].T @ delta
        dw *= inv
        if i:
            g = delta @ net.weights[i].T
    return float(dw[0, 0])


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def compare(s: Scenario, repeats: int) -> tuple[float, float, float]:
    """Median seconds of propagate and of the baseline (interleaved), and of build alone."""
    network.propagate(s)  # warm-up: page in memory, BLAS threads
    baseline(s)
    tp, tb, tbuild = [], [], []
    for _ in range(repeats):
        tp.append(timed(network.propagate, s))
        tb.append(timed(baseline, s))
        tbuild.append(timed(network.build, s))
    return statistics.median(tp), statistics.median(tb), statistics.median(tbuild)


def peak_mb(s: Scenario) -> float:
    tracemalloc.start()
    network.propagate(s)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller growth table")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    print(f"numpy {np.__version__}; reference scenario: {REFERENCE.changes()}")
    tp, tb, tbuild = compare(REFERENCE, repeats)
    print(f"propagate (build + pass + statistics): {tp * 1e3:8.1f} ms   median of {repeats}")
    print(f"baseline  (build + pass, no stats)   : {tb * 1e3:8.1f} ms")
    print(f"  of which build (weights, inputs)   : {tbuild * 1e3:8.1f} ms")
    print(f"ratio propagate / baseline           : {tp / tb:8.3f}   (goal <= 1.25)")
    print(f"statistics' share of the pass alone  : {(tp - tb) / (tb - tbuild):8.1%}")

    print("\npeak memory (tracemalloc) against the budget estimate:")
    for s in (REFERENCE, Scenario(depth=250, width=512, batch=256, dtype="float32"),
              Scenario(depth=250, width=512, batch=256, dtype="float64")):
        print(f"  {s.depth} x {s.width} x batch {s.batch} {s.dtype}: peak {peak_mb(s):7.1f} MB, "
              f"estimate {estimate_bytes(s) / 1e6:7.1f} MB")

    print("\ngrowth (ms, median; ratio = propagate / baseline):")
    depths = (50, 100, 250) if args.quick else (25, 50, 100, 250, 500)
    widths = (64, 256, 512) if args.quick else (32, 64, 128, 256, 512)
    print("  depth  width  propagate  baseline  ratio")
    for d in depths:
        tp, tb, _ = compare(REFERENCE.replace(depth=d), 3)
        print(f"  {d:5d}  {256:5d}  {tp * 1e3:9.1f}  {tb * 1e3:8.1f}  {tp / tb:5.2f}")
    for w in widths:
        tp, tb, _ = compare(REFERENCE.replace(depth=100, width=w), 3)
        print(f"  {100:5d}  {w:5d}  {tp * 1e3:9.1f}  {tb * 1e3:8.1f}  {tp / tb:5.2f}")


if __name__ == "__main__":
    main()
