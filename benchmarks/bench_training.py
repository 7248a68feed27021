"""How fast is initlab's training next to the plain batched numpy code anyone would write?

Run: ``python benchmarks/bench_training.py`` (``--quick`` for 3000 steps instead of 15000).

The course notebook's reference comparison (circles, 300 training points, hidden (10, 5), ReLU, full-batch
gradient descent with lr 0.01, 15000 steps; zeros, He and N(0,1) x 10, 10 restarts each = 30 runs),
measured in one process, interleaved so that machine noise hits every contender alike:

* ``initlab``: :func:`initlab.training.engine.train_many` with the default engine (numba when installed),
  including everything it records (51 evaluations on the train and test sets, gradient norms,
  distinct units, parameter snapshots);
* ``initlab numpy``: the same with ``engine="numpy"`` (initlab's reference engine);
* ``plain numpy``: the obvious per-step code written below: one ``np.matmul`` per layer on
  (runs, n, width) arrays, no fusing, no preallocation, no recording at all.

Then the time of one single run (1 restart), and the numba compile time cold (empty cache, in a fresh
process) and warm (cache on disk), which is what the first page of a freshly started server waits for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from initlab.training import engine as training  # noqa: E402
from initlab.training.scenario import TrainScenario  # noqa: E402
from initlab.weights import activations  # noqa: E402

INITS = {
    "zeros": {"init": "zeros"},
    "he": {"init": "variance_scaling", "scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"},
    "normal x10": {"init": "random_normal", "stddev": 10.0},
}


def scenarios(steps: int, dtype: str) -> list[TrainScenario]:
    base = TrainScenario(steps=steps, dtype=dtype)
    out = []
    for p in INITS.values():
        p = dict(p)
        out.append(base.with_init(p.pop("init"), **p))
    return out


def plain_numpy(scs: list[TrainScenario]) -> float:
    """The obvious batched numpy training of all runs; returns the mean final loss (so nothing is skipped)."""
    ts = scs[0]
    data = training.make_data(ts)
    params = [training.initial_params(s, r) for s in scs for r in range(ts.restarts)]
    W = [np.stack([p[l][0] for p in params]) for l in range(len(params[0]))]  # (runs, fan_in, fan_out)
    b = [np.stack([p[l][1] for p in params])[:, None, :] for l in range(len(params[0]))]  # (runs, 1, fan_out)
    X = np.broadcast_to(data.X_train, (len(params), *data.X_train.shape))
    y = data.y_train.astype(X.dtype)[None, :, None]
    n, lr, L = X.shape[1], ts.lr, len(W)
    with np.errstate(all="ignore"):
        for _ in range(ts.steps):
            hs, zs, h = [X], [], X
            for l in range(L):
                z = np.matmul(h, W[l]) + b[l]
                zs.append(z)
                if l < L - 1:
                    h = np.maximum(z, 0)
                    hs.append(h)
            p = 1 / (1 + np.exp(-zs[-1]))
            d = (p - y) / n
            for l in range(L - 1, -1, -1):
                gW = np.matmul(hs[l].transpose(0, 2, 1), d)
                gb = d.sum(axis=1, keepdims=True)
                if l > 0:
                    d = np.matmul(d, W[l].transpose(0, 2, 1)) * (zs[l - 1] > 0)
                W[l] = W[l] - lr * gW
                b[l] = b[l] - lr * gb
        s = zs[-1]
        return float(np.mean(np.maximum(s, 0) - y * s + np.log1p(np.exp(-np.abs(s)))))


def timed(fn, *args, **kw) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU time is what a busy shared machine distorts least)."""
    t, c = time.perf_counter(), time.process_time()
    fn(*args, **kw)
    return time.perf_counter() - t, time.process_time() - c


def compile_times() -> tuple[float, float]:
    """CPU seconds of ``import initlab.training.engine; warm_up()`` in a fresh process: empty cache, then cached."""
    code = ("import time; t = time.process_time(); from initlab.training import engine; engine.warm_up(); "
            "print(time.process_time() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(2):
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                  check=True)
            out.append(float(proc.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3000 steps instead of 15000")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = ap.parse_args()
    steps = 3000 if args.quick else 15000
    scs = scenarios(steps, args.dtype)
    engine = training._resolve_engine("auto", activations.get(scs[0].activation), scs[0].plain_mlp)
    print(f"threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, engine: {engine}, "
          f"numpy {np.__version__}" + (f", numba {__import__('numba').__version__}" if engine == "numba" else ""))
    print(f"3 initializers x 10 restarts x {steps} steps, {args.dtype}, circles 300 points, hidden (10, 5), relu")

    cold, warm = compile_times() if engine == "numba" else (0.0, 0.0)
    training.warm_up((args.dtype,))
    t_init, t_np, t_plain = [], [], []
    for _ in range(args.repeats):
        t_init.append(timed(training.train_many, scs))
        t_plain.append(timed(plain_numpy, scs))
        t_np.append(timed(training.train_many, scs, engine="numpy"))
    single = [timed(training.train, scs[1].replace(restarts=1)) for _ in range(3)]
    med = [statistics.median(x) for x in zip(*single)]
    (a, ac), (b, bc), (c, cc) = ([statistics.median(x) for x in zip(*ts)] for ts in (t_init, t_plain, t_np))
    print("                          wall s    CPU s")
    print(f"initlab ({engine}):       {a:8.2f} {ac:8.2f}")
    print(f"initlab (numpy engine):  {c:8.2f} {cc:8.2f}")
    print(f"plain batched numpy:     {b:8.2f} {bc:8.2f}   (no recording)")
    print(f"ratio initlab / plain:   {a / b:8.3f} {ac / bc:8.3f}   (goal <= 0.2)")
    print(f"ratio numpy engine / plain: {c / b:5.3f} {cc / bc:8.3f}")
    print(f"one single run (1 restart, He, {steps} steps): {med[0]:.3f} s wall, {med[1]:.3f} s CPU")
    if engine == "numba":
        print(f"import + numba compile of both dtypes, fresh process: empty cache {cold:.2f} s CPU, "
              f"from the cache {warm:.2f} s CPU")


if __name__ == "__main__":
    main()
