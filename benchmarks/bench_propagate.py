"""How much do initlab's per-layer statistics cost next to the pass they describe?

Run: ``python benchmarks/bench_propagate.py`` (add ``--quick`` for a smaller run).

For the reference scenario (depth 250, width 256, batch 512, float32, tanh, glorot_uniform) it times,
interleaved in one run so machine noise hits both alike:

* ``propagate``: build the network (draw weights and inputs), forward + backward, every statistic;
* ``baseline``: build the same network the same way, then the minimal forward + backward written
  plainly in numpy (matrix products, activation and its derivative, dL/dW; no statistics at all).

and prints the medians and their ratio (goal <= 1.25). The same for residual and normalised networks
(``block``, ``norm``: goal <= 1.3) against ``baseline_blocks``, the minimal numpy forward + backward
of the same blocks (norms with a plain mean and variance, no overflow guard, no statistics). Then the
peak memory (tracemalloc, which sees numpy's allocations) of the largest classic scenarios, plain and
residual, against the engine's own estimate, and how the time grows with depth and with width.
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


def _norm(x: np.ndarray, norm: str, eps: float) -> tuple[np.ndarray, np.ndarray | None]:
    if norm == "none":
        return x, None
    axis = 0 if norm == "batch" else 1
    xc = x - x.mean(axis=axis, keepdims=True)
    inv = 1.0 / np.sqrt((xc * xc).mean(axis=axis, keepdims=True) + x.dtype.type(eps))
    return xc * inv, inv


def _norm_back(du: np.ndarray, u: np.ndarray, inv: np.ndarray | None, norm: str) -> np.ndarray:
    if norm == "none":
        return du
    axis = 0 if norm == "batch" else 1
    return inv * (du - du.mean(axis=axis, keepdims=True) - u * (du * u).mean(axis=axis, keepdims=True))


def baseline_blocks(s: Scenario) -> float:
    """Build + the minimal forward/backward of a residual or normalised ``s`` (zero biases), no statistics."""
    net = network.build(s)
    f, d = net.activation.fn, net.activation.deriv
    k, norm, eps, alpha = s.layers_per_block, s.norm, s.norm_eps, net.x.dtype.type(s.alpha())
    W = net.weights
    h, caches = net.x, []
    for b in range(s.depth):
        ws = W[b * k:(b + 1) * k]
        if not s.residual:
            u, inv = _norm(h @ ws[0], norm, eps)
            caches.append((h, [u], [inv], None, None))
            h = f(u)
        elif s.norm_position == "pre":
            us, invs, x = [], [], h
            for w in ws:
                u, inv = _norm(x, norm, eps)
                us.append(u)
                invs.append(inv)
                x = f(u) @ w
            caches.append((h, us, invs, None, None))
            h = h + alpha * x
        else:
            z = h @ ws[0]
            br = f(z) if k == 1 else f(z) @ ws[1]
            out, oinv = _norm(h + alpha * br, norm, eps)
            caches.append((h, [z], [None], out, oinv))
            h = out
    g = net.target
    inv_b = net.x.dtype.type(1.0 / net.x.shape[0])
    for b in range(s.depth - 1, -1, -1):
        ws = W[b * k:(b + 1) * k]
        h_in, us, invs, out, oinv = caches[b]
        if not s.residual:
            dz = _norm_back(g * d(us[0]), us[0], invs[0], norm)
            dw = (h_in.T @ dz) * inv_b
            g = dz @ ws[0].T
        elif s.norm_position == "pre":
            dx = alpha * g
            for j in range(k - 1, -1, -1):
                dw = (f(us[j]).T @ dx) * inv_b
                dx = _norm_back((dx @ ws[j].T) * d(us[j]), us[j], invs[j], norm)
            g = g + dx
        else:
            gs = _norm_back(g, out, oinv, norm)
            z = us[0]
            db = alpha * gs
            if k == 2:
                dw = (f(z).T @ db) * inv_b
                db = db @ ws[1].T
            dz = db * d(z)
            dw = (h_in.T @ dz) * inv_b
            g = gs + dz @ ws[0].T
    return float(dw[0, 0])


BLOCK_SCENARIOS = (
    REFERENCE.replace(init="he_normal", activation="relu", block="residual", norm="layer"),
    REFERENCE.replace(init="he_normal", activation="relu", block="residual", norm="batch", branch_layers=2),
    REFERENCE.replace(init="he_normal", activation="relu", block="residual", norm="layer", norm_position="post"),
    REFERENCE.replace(norm="batch"),
    REFERENCE.replace(init="he_normal", activation="relu", block="residual", depth=100),
)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def compare(s: Scenario, repeats: int) -> tuple[float, float, float]:
    """Median seconds of propagate and of the baseline (interleaved), and of build alone."""
    base = baseline if s.plain_mlp else baseline_blocks
    network.propagate(s)  # warm-up: page in memory, BLAS threads
    base(s)
    tp, tb, tbuild = [], [], []
    for _ in range(repeats):
        tp.append(timed(network.propagate, s))
        tb.append(timed(base, s))
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

    print("\nresidual and normalised networks (ratio goal <= 1.3):")
    print("  network                                           propagate  baseline  ratio")
    for s in BLOCK_SCENARIOS:
        tp, tb, _ = compare(s, repeats)
        what = f"{s.block}, {s.norm}" + (f", {s.norm_position}, {s.branch_layers} per branch" if s.residual else "")
        print(f"  {what + f', depth {s.depth}':48s}  {tp * 1e3:9.1f}  {tb * 1e3:8.1f}  {tp / tb:5.2f}")

    print("\npeak memory (tracemalloc) against the budget estimate:")
    big = Scenario(depth=250, width=512, batch=256, dtype="float32")
    for s in (REFERENCE, big, big.replace(dtype="float64"),
              big.replace(block="residual", norm="layer", branch_layers=2, depth=100),
              big.replace(norm="batch")):
        print(f"  {s.depth} x {s.width} x batch {s.batch} {s.dtype} {s.block} {s.norm}: peak {peak_mb(s):7.1f} MB, "
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
