"""How long do the mean-field phase diagram and the Jacobian spectra take? (A script, not a test.)

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_theory.py`` (``--repeat N`` for more runs).

Goals: the phase diagram -- chi1 and q* over a 100 x 100 grid of (sigma_w^2, sigma_b^2)
plus its critical line -- under 0.2 s; the Jacobian singular values of the default scenario
(glorot_uniform, tanh, depth 50, width 256, batch 128) at a few depths under 1 s.

Printed per activation: ``cold`` is the first call in a fresh cache (it builds the activation's
table of V(q), dV/dq, E[f'^2]), ``warm`` the median of later calls, both wall and process CPU time
(the machine may be shared; CPU time is what this process itself spent). Then the depth-scale curve
(200 values of sigma_w^2; the chaotic side needs the 2-D correlation map) and the spectra.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from initlab.weights import activations  # noqa: E402
from initlab.signal import spectra
from initlab.theory import meanfield as theory
from initlab.signal.scenario import Scenario  # noqa: E402

SW2 = np.linspace(0.05, 5.0, 100)
SB2 = np.linspace(0.0, 0.5, 100)
DEPTHS = [1, 10, 25, 50]


def timed(fn, *args) -> tuple[float, float]:
    """(wall, cpu) seconds of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    print(f"phase diagram: chi1, q* on {SB2.size} x {SW2.size} (sb2 x sw2) + critical line   [goal < 0.2 s]")
    print(f"{'activation':<11} {'cold wall':>9} {'cold cpu':>9} {'warm wall':>9} {'warm cpu':>9}")
    worst = 0.0
    for name in activations.names():
        theory._table.cache_clear()
        cold = timed(theory.phase_diagram, name, SW2, SB2)
        warm = [timed(theory.phase_diagram, name, SW2, SB2) for _ in range(args.repeat)]
        ww, wc = statistics.median(t[0] for t in warm), statistics.median(t[1] for t in warm)
        worst = max(worst, cold[0])
        print(f"{name:<11} {cold[0]:9.3f} {cold[1]:9.3f} {ww:9.3f} {wc:9.3f}")
    print(f"slowest cold phase diagram: {worst:.3f} s")

    print("\ndepth-scale curve: xi_q, xi_c over 200 values of sw2 at sb2 = 0.05 (warm)")
    for name in ("tanh", "selu", "relu"):
        theory.depth_scale_curve(name, SW2[:5], 0.05)
        runs = [timed(theory.depth_scale_curve, name, np.linspace(0.05, 5, 200), 0.05) for _ in range(args.repeat)]
        print(f"{name:<11} wall {statistics.median(t[0] for t in runs):.3f} s   "
              f"cpu {statistics.median(t[1] for t in runs):.3f} s")

    s = Scenario()
    print(f"\nJacobian singular values, default scenario ({s.init}, {s.activation}, depth {s.depth}, "
          f"width {s.width}, batch {s.batch}, {s.dtype}) at depths {DEPTHS}   [goal < 1 s]")
    runs = [timed(spectra.jacobian_singular_values, s, DEPTHS) for _ in range(args.repeat)]
    print(f"wall {statistics.median(t[0] for t in runs):.3f} s   cpu {statistics.median(t[1] for t in runs):.3f} s "
          f"(median of {args.repeat}; includes drawing the network)")
    r = spectra.jacobian_singular_values(s, DEPTHS)
    for d, row in zip(r.depths, r.singular_values):
        print(f"  depth {d:3d}: s_max {row[0]:.4g}  s_min {row[-1]:.3g}  mean s^2 {np.mean(row * row):.4g}")


if __name__ == "__main__":
    main()
