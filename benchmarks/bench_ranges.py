"""Does the Weight ranges page draw within about a second for every request its controls accept?

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ranges.py`` (add ``--quick`` to skip the
calibration). Not a test: it prints times measured in one run.

1. Calibration: the constants of the cost model in ``initlab.teaching.ranges`` (per call, per row, per weight
   of each distribution kind, per n·m·min(n, m) of a QR factorization) measured on this machine,
   next to the values the model uses. A model value well below the measured one means the budget
   is no longer a bound here: re-measure and update ``initlab/teaching/ranges.py``. On a machine shared with
   other jobs the times (and the fit) wobble: run it when the load average (printed first) is below
   the number of cores, and compare runs.
2. The worst case of every initializer of ``initializers.names()``: ``range_curves`` called as the
   page calls it (n = 1..n_max, 1000 samples) at the largest n the schema accepts, for m = n, the
   largest m and m = 1; the slowest of the three is printed with the modelled time, the time the
   request would have been modelled at without thinning, and the plan's sentence.
3. The page's worst selection: six initializers (the most the control allows), the most expensive
   ones, at the largest n and m.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the server runs with one BLAS thread (Dockerfile)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from initlab.weights import initializers  # noqa: E402
from initlab.teaching import ranges
from initlab.signal.scenario import FIELD_BY_NAME  # noqa: E402

N_HI = int(FIELD_BY_NAME["rng_n"].hi)  # the largest n the page's box accepts
M_HI = int(FIELD_BY_NAME["rng_m"].hi)  # the largest m (0 means m = n)
UNLIMITED = 1e9  # a budget no request reaches: the unthinned model


def best_of(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    """The smallest of ``repeat`` wall times of ``fn()`` (the least disturbed by other processes)."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def repeat_call(fn, k: int) -> None:  # type: ignore[no-untyped-def]
    """Call ``fn`` k times, dropping each result at once as range_curves does (keeping them all alive
    would make every kernel a fresh allocation, and page faults would dominate)."""
    for _ in range(k):
        fn()


def calibrate() -> None:
    rng = np.random.default_rng(0)
    print("1. Cost model constants (measured here vs used by initlab.teaching.ranges)")
    glorot, orth = initializers.get("glorot_uniform"), initializers.get("orthogonal")
    per_call = max(best_of(lambda i=i: repeat_call(lambda: i((1, 1), rng), 2000)) / 2000
                   for i in (glorot, orth, initializers.get("he_normal")))
    print(f"   per call            {per_call * 1e6:7.2f} us   model {ranges.CALL_SECONDS * 1e6:7.2f} us")
    per_row = best_of(lambda: [(glorot.std(n, n), glorot.mean(n, n), glorot.limits(n, n)) for n in range(1, 2001)])
    print(f"   theory per row      {per_row / 2000 * 1e6:7.2f} us   model {ranges.ROW_SECONDS * 1e6:7.2f} us"
          "  (+ storing the row)")
    w = rng.standard_normal(1000)
    stats = best_of(lambda: repeat_call(lambda: (w.min(), w.max(), w.std(ddof=1), w.mean()), 2000)) / 2000
    print(f"   stats per row       {stats * 1e6:7.2f} us   model {ranges.STATS_SECONDS * 1e6:7.2f} us")
    count = 1_000_000
    for kind, name in (("constant", "zeros"), ("uniform", "glorot_uniform"), ("normal", "torch_kaiming_normal"),
                       ("truncated_normal", "he_normal")):
        init = initializers.get(name)
        t = best_of(lambda init=init: init.sample_entries(100, 100, count, rng))
        print(f"   per weight {kind:17s}{t / count * 1e9:6.2f} ns   model {ranges.WEIGHT_SECONDS[kind] * 1e9:6.2f} ns")
    ident = initializers.get("identity")
    t = best_of(lambda: repeat_call(lambda: ident((500, 1000), rng).reshape(-1)[:1000].min(), 20)) / 20
    print(f"   per weight {'identity':17s}{t / 5e5 * 1e9:6.2f} ns   model {ranges.WEIGHT_SECONDS['identity'] * 1e9:6.2f} ns")
    # Orthogonal: fit t = CALL + a n m + b n m min(n, m) on small (per weight dominates) and big kernels.
    shapes = [(30, 1), (100, 3), (300, 3), (50, 50), (100, 100), (200, 200), (300, 300), (500, 500),
              (1000, 100), (1000, 300), (1000, 500)]
    rows, times = [], []
    for n, m in shapes:
        reps = max(1, min(200, int(3e7 / (n * m * min(n, m)))))
        t = best_of(lambda n=n, m=m, reps=reps: repeat_call(lambda: orth((n, m), rng), reps)) / reps
        rows.append((n * m, n * m * min(n, m)))
        times.append(t - per_call)
    (a, b), *_ = np.linalg.lstsq(np.array(rows, dtype=float), np.array(times), rcond=None)
    print(f"   per weight {'orthogonal':17s}{a * 1e9:6.2f} ns   model {ranges.WEIGHT_SECONDS['orthogonal'] * 1e9:6.2f} ns"
          "  (fit)")
    print(f"   QR per n·m·min(n,m)  {b * 1e9:6.3f} ns   model {ranges.QR_SECONDS * 1e9:6.3f} ns  (fit)")
    for (n, m), (nm, nmk), t in zip(shapes, rows, times):
        model = ranges.WEIGHT_SECONDS["orthogonal"] * nm + ranges.QR_SECONDS * nmk
        print(f"      orthogonal {n:4d} x {m:<4d} {t * 1e3:8.3f} ms   model {model * 1e3:8.3f} ms")


def run(inits: list[str], n: int, m: int) -> tuple[float, ranges.RangePlan]:
    t = time.perf_counter()
    df = ranges.range_curves(inits, n, fan_out=m or None, rng=np.random.default_rng(0))
    return time.perf_counter() - t, df.attrs["plan"]


def worst_cases() -> None:
    print(f"\n2. Worst case of every initializer at n = 1..{N_HI} (schema max), m in (n, {M_HI}, 1), 1000 samples")
    print(f"   budget {ranges.BUDGET_SECONDS} s modelled\n")
    print(f"   {'initializer':22s} {'m':>5s} {'measured':>9s} {'modelled':>9s} {'unthinned':>10s}  plan")
    slowest = 0.0
    for name in initializers.names():
        results = []
        for m in (0, M_HI, 1):
            seconds, plan = run([name], N_HI, m)
            full = ranges.plan_ranges([name], N_HI, fan_out=m or None, budget=UNLIMITED).seconds
            results.append((seconds, m, plan, full))
        seconds, m, plan, full = max(results, key=lambda r: r[0])
        slowest = max(slowest, seconds)
        print(f"   {name:22s} {m or 'n':>5} {seconds:8.3f}s {plan.seconds:8.3f}s {full:9.2f}s  "
              f"{plan.note.split(': ', 1)[-1] if plan.reduced else 'every n'}")
    print(f"\n   slowest single initializer: {slowest:.3f} s")


def page_worst() -> None:
    print(f"\n3. Six initializers at once (the control's maximum), n = 1..{N_HI}")
    costly = ["orthogonal", "identity", "he_normal", "torch_trunc_normal", "glorot_normal", "random_normal"]
    for m in (0, M_HI):
        seconds, plan = run(costly, N_HI, m)
        full = ranges.plan_ranges(costly, N_HI, fan_out=m or None, budget=UNLIMITED).seconds
        print(f"   m = {m or 'n':>4}: measured {seconds:.3f} s, modelled {plan.seconds:.3f} s "
              f"(unthinned {full:.2f} s)")
        print(f"            {plan.note or 'nothing thinned'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the calibration")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} on {os.cpu_count()} cores, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}\n")
    if not args.quick:
        calibrate()
    worst_cases()
    page_worst()


if __name__ == "__main__":
    main()
