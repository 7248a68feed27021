"""How fast is initlab's training next to the plain batched numpy code anyone would write?

Run: ``python benchmarks/bench_training.py`` (``--quick`` for a fifth of the steps, ``--only classic``,
``--only residual`` or ``--only digits`` for one comparison).

Three comparisons, each measured in one process, interleaved so that machine noise hits every contender
alike (CPU time and wall time, median of ``--repeats``):

1. The course notebook's reference comparison (circles, 300 training points, hidden (10, 5), ReLU,
   full-batch gradient descent with lr 0.01, 15000 steps; zeros, He and N(0,1) x 10, 10 restarts each =
   30 runs). Goal: initlab <= 1/5 of the plain loop.
2. A residual BatchNorm network of a realistic size (spiral, 300 points, 9 hidden layers of 16 units: a
   stem and 8 pre-norm blocks BN-ReLU-Linear-BN-ReLU-Linear, or as many as MAX_HIDDEN_LAYERS allows;
   mini-batches of 64, Adam lr 0.01, 1500 steps; He, Glorot normal and N(0, 0.1), 5 restarts each = 15
   runs). Goal: initlab <= 1/3 of the plain loop.
3. Ten classes on real data (scikit-learn's digits, its 1437 training images of 64 pixels / 16, hidden
   (32,), ReLU, a softmax over 10 logits, mini-batches of 64, SGD lr 0.1, 2000 steps; He, Glorot normal
   and N(0, 0.1), 10 restarts each = 30 runs). Goal: initlab <= 1/2 of the plain loop.

Contenders:

* ``initlab``: :func:`initlab.training.engine.train_many` with the default engine (numba when installed;
  digits' runs, a wide softmax MLP from random inits, with their products by BLAS: see
  ``initlab.training.kernel``), including everything it records (51 evaluations on the train and test
  sets, gradient norms, distinct units, dead units, update ratios, parameter snapshots: for digits these
  records are 40 % of the multiply-adds, the plain loop makes none);
* ``initlab numpy``: the same with ``engine="numpy"`` (initlab's reference engine);
* ``plain numpy``: the obvious per-step code written below, for the same network, the same initial
  parameters and (residual) the same batches: one ``np.matmul`` per layer on (runs, n, width) arrays,
  BatchNorm from the batch statistics with running statistics, no fusing, no preallocation, no
  recording at all.

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
from initlab.training.scenario import (  # noqa: E402
    ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, MAX_HIDDEN_LAYERS, TrainScenario,
)
from initlab.weights import activations  # noqa: E402

INITS = {
    "zeros": {"init": "zeros"},
    "he": {"init": "variance_scaling", "scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"},
    "normal x10": {"init": "random_normal", "stddev": 10.0},
}
RESIDUAL_INITS = {
    "he": INITS["he"],
    "glorot normal": {"init": "glorot_normal"},
    "normal 0.1": {"init": "random_normal", "stddev": 0.1},
}
# A stem and pre-norm residual blocks of two layers, 9 hidden layers (stem + 8 blocks) where the form allows
# that many (MAX_HIDDEN_LAYERS), else as many as it allows.
DIGITS = dict(dataset="digits", classes=10, n_train=2000, n_test=2000, hidden=(32,), batch_size=64, lr=0.1,
              restarts=10)
RESIDUAL = dict(dataset="spiral", noise=0.05, hidden=(16,) * min(9, MAX_HIDDEN_LAYERS), block="residual",
                norm="batch", norm_position="pre", branch_layers=2, batch_size=64, optimizer="adam", lr=0.01,
                restarts=5)


def scenarios(steps: int, dtype: str, base: TrainScenario | None = None, inits: dict = INITS) -> list[TrainScenario]:
    base = base or TrainScenario()
    base = base.replace(steps=steps, dtype=dtype)
    out = []
    for p in inits.values():
        p = dict(p)
        out.append(base.with_init(p.pop("init"), **p))
    return out


def relu_forward(x: np.ndarray, W: list, b: list) -> tuple[list, list]:
    """The plain loops' forward pass of a ReLU MLP, batched over runs: the layers' inputs and pre-activations."""
    hs, zs, h = [x], [], x
    for l in range(len(W)):
        z = np.matmul(h, W[l]) + b[l]
        zs.append(z)
        if l < len(W) - 1:
            h = np.maximum(z, 0)
            hs.append(h)
    return hs, zs


def sgd_backward(hs: list, zs: list, d: np.ndarray, W: list, b: list, lr: float) -> None:
    """The plain loops' backward pass from d = dL/ds and a plain SGD step on ``W`` and ``b``, in place."""
    for l in range(len(W) - 1, -1, -1):
        gW = np.matmul(hs[l].transpose(0, 2, 1), d)
        gb = d.sum(axis=1, keepdims=True)
        if l > 0:
            d = np.matmul(d, W[l].transpose(0, 2, 1)) * (zs[l - 1] > 0)
        W[l] = W[l] - lr * gW
        b[l] = b[l] - lr * gb


def plain_numpy(scs: list[TrainScenario]) -> float:
    """The obvious batched numpy training of all runs; returns the mean final loss (so nothing is skipped)."""
    ts = scs[0]
    data = training.make_data(ts)
    params = [training.initial_params(s, r) for s in scs for r in range(ts.restarts)]
    W = [np.stack([p[l][0] for p in params]) for l in range(len(params[0]))]  # (runs, fan_in, fan_out)
    b = [np.stack([p[l][1] for p in params])[:, None, :] for l in range(len(params[0]))]  # (runs, 1, fan_out)
    X = np.broadcast_to(data.X_train, (len(params), *data.X_train.shape))
    y = data.y_train.astype(X.dtype)[None, :, None]
    n, lr = X.shape[1], ts.lr
    with np.errstate(all="ignore"):
        for _ in range(ts.steps):
            hs, zs = relu_forward(X, W, b)
            p = 1 / (1 + np.exp(-zs[-1]))
            sgd_backward(hs, zs, (p - y) / n, W, b, lr)
        s = zs[-1]
        return float(np.mean(np.maximum(s, 0) - y * s + np.log1p(np.exp(-np.abs(s)))))


def plain_numpy_digits(scs: list[TrainScenario]) -> np.ndarray:
    """The obvious batched numpy training of a plain ReLU MLP with a softmax output (mean categorical
    cross-entropy, dL/ds = (softmax(s) - onehot(y)) / batch), plain SGD, from initlab's initial parameters
    and batch order (one permutation per epoch and restart, a short last batch). Returns the final
    parameters, (runs, P) in initlab's layout (so nothing is skipped, and they can be compared)."""
    ts = scs[0]
    assert ts.plain_mlp and ts.softmax and ts.optimizer == "sgd" and ts.activation == "relu"
    data = training.make_data(ts)
    R = ts.restarts
    params = [training.initial_params(s, r) for s in scs for r in range(R)]
    G, L = len(params), len(params[0])
    W = [np.stack([p[l][0] for p in params]) for l in range(L)]  # (runs, fan_in, fan_out)
    b = [np.stack([p[l][1] for p in params])[:, None, :] for l in range(L)]  # (runs, 1, fan_out)
    X, y = data.X_train, data.y_train
    n, batch, lr, C = len(y), ts.batch, ts.lr, ts.classes
    spe = -(-n // batch)
    onehot = np.eye(C, dtype=X.dtype)[y]
    rngs = [np.random.default_rng(np.random.SeedSequence(ts.seed + r).spawn(3)[2]) for r in range(R)]
    with np.errstate(all="ignore"):
        for t in range(ts.steps):
            if t % spe == 0:
                perm = np.tile(np.stack([rng.permutation(n) for rng in rngs]), (len(scs), 1))
            idx = perm[:, (t % spe) * batch:(t % spe + 1) * batch]
            hs, zs = relu_forward(X[idx], W, b)
            e = np.exp(zs[-1] - zs[-1].max(axis=2, keepdims=True))
            sgd_backward(hs, zs, (e / e.sum(axis=2, keepdims=True) - onehot[idx]) / idx.shape[1], W, b, lr)
    return np.concatenate([w.reshape(G, -1) for l in range(L) for w in (W[l], b[l])], axis=1)


def plain_numpy_residual(scs: list[TrainScenario]) -> np.ndarray:
    """The obvious batched numpy training of the pre-norm residual BatchNorm network of ``scs`` (stem
    relu(BN(x W + b)), blocks h + B(h) with B(h) = relu(BN(relu(BN(h)) W1 + b1)) W2 + b2, head h W + b,
    mean binary cross-entropy, Keras' Adam), from initlab's initial parameters and batch order; the biases
    just before a BatchNorm are left out of the update, as initlab does (their gradient is 0). Returns the
    final parameters, (runs, P) in initlab's layout (so nothing is skipped, and they can be compared)."""
    ts = scs[0]
    assert ts.residual and ts.norm == "batch" and ts.norm_position == "pre" and ts.branch_layers == 2
    assert not ts.merge_last_batch  # 300 examples in batches of 64: a short last batch of 44, kept
    data = training.make_data(ts)
    R, dt = ts.restarts, np.dtype(ts.dtype)
    params = [training.initial_params(s, r) for s in scs for r in range(R)]
    G, L = len(params), len(params[0])
    W = [np.stack([p[l][0] for p in params]) for l in range(L)]  # (runs, fan_in, fan_out)
    b = [np.stack([p[l][1] for p in params])[:, None, :] for l in range(L)]  # (runs, 1, fan_out)
    norms = len(ts.norm_widths)
    gamma = [np.ones((G, 1, w), dt) for w in ts.norm_widths]
    beta = [np.zeros((G, 1, w), dt) for w in ts.norm_widths]
    run_mean = [np.zeros((G, 1, w), dt) for w in ts.norm_widths]
    run_var = [np.ones((G, 1, w), dt) for w in ts.norm_widths]
    trained = W + [b[l] for l in range(L) if l not in ts.cancelled_biases] + gamma + beta
    m1 = [np.zeros_like(p) for p in trained]
    m2 = [np.zeros_like(p) for p in trained]
    X, y = data.X_train, data.y_train.astype(dt)
    n, batch, eps = len(y), ts.batch, dt.type(ts.norm_eps)
    spe = -(-n // batch)
    rngs = [np.random.default_rng(np.random.SeedSequence(ts.seed + r).spawn(3)[2]) for r in range(R)]

    def bn_forward(i, z):
        mean = z.mean(axis=1, keepdims=True)
        zc = z - mean
        var = (zc * zc).mean(axis=1, keepdims=True)
        inv = 1 / np.sqrt(var + eps)
        u = zc * inv
        m = z.shape[1]
        run_mean[i] = 0.9 * run_mean[i] + 0.1 * mean
        run_var[i] = 0.9 * run_var[i] + 0.1 * var * (m / (m - 1))
        return gamma[i] * u + beta[i], (u, inv)

    def bn_backward(i, dy, cache):
        u, inv = cache
        grads[norms_at + i] = (dy * u).sum(axis=1, keepdims=True)
        grads[norms_at + norms + i] = dy.sum(axis=1, keepdims=True)
        du = dy * gamma[i]
        return inv * (du - du.mean(axis=1, keepdims=True) - u * (du * u).mean(axis=1, keepdims=True))

    bias_at = {l: L + k for k, l in enumerate(l for l in range(L) if l not in ts.cancelled_biases)}
    norms_at = L + len(bias_at)
    with np.errstate(all="ignore"):
        for t in range(ts.steps):
            if t % spe == 0:
                perm = np.tile(np.stack([rng.permutation(n) for rng in rngs]), (len(scs), 1))
            idx = perm[:, (t % spe) * batch:(t % spe + 1) * batch]
            x, yb = X[idx], y[idx][..., None]
            grads = [None] * len(trained)
            # Forward, keeping what the backward pass needs.
            z = np.matmul(x, W[0]) + b[0]
            yn, c0 = bn_forward(0, z)
            h = np.maximum(yn, 0)
            blocks = []
            for k in range(ts.blocks):
                l, i = 1 + 2 * k, 1 + 2 * k
                y1, c1 = bn_forward(i, h)
                a1 = np.maximum(y1, 0)
                x1 = np.matmul(a1, W[l]) + b[l]
                y2, c2 = bn_forward(i + 1, x1)
                a2 = np.maximum(y2, 0)
                h = h + (np.matmul(a2, W[l + 1]) + b[l + 1])
                blocks.append((c1, a1, y1, c2, a2, y2))
            s = np.matmul(h, W[-1]) + b[-1]
            # Backward.
            d = (1 / (1 + np.exp(-s)) - yb) / x.shape[1]
            grads[L - 1] = np.matmul(h.transpose(0, 2, 1), d)
            grads[bias_at[L - 1]] = d.sum(axis=1, keepdims=True)
            gh = np.matmul(d, W[-1].transpose(0, 2, 1))
            for k in range(ts.blocks - 1, -1, -1):
                l, i = 1 + 2 * k, 1 + 2 * k
                c1, a1, y1, c2, a2, y2 = blocks[k]
                grads[l + 1] = np.matmul(a2.transpose(0, 2, 1), gh)
                grads[bias_at[l + 1]] = gh.sum(axis=1, keepdims=True)
                da = np.matmul(gh, W[l + 1].transpose(0, 2, 1)) * (y2 > 0)
                dx1 = bn_backward(i + 1, da, c2)
                grads[l] = np.matmul(a1.transpose(0, 2, 1), dx1)
                da = np.matmul(dx1, W[l].transpose(0, 2, 1)) * (y1 > 0)
                gh = gh + bn_backward(i, da, c1)
            dz = bn_backward(0, gh * (yn > 0), c0)
            grads[0] = np.matmul(x.transpose(0, 2, 1), dz)
            # Adam (Keras).
            k1 = t + 1.0
            step = ts.lr * np.sqrt(1 - ADAM_BETA2 ** k1) / (1 - ADAM_BETA1 ** k1)
            for p, g, m, v in zip(trained, grads, m1, m2):
                m += (g - m) * (1 - ADAM_BETA1)
                v += (g * g - v) * (1 - ADAM_BETA2)
                p -= (m * step) / (np.sqrt(v) + ADAM_EPSILON)
    return np.concatenate([w.reshape(G, -1) for l in range(L) for w in (W[l], b[l])]
                          + [a.reshape(G, -1) for i in range(norms) for a in (gamma[i], beta[i])], axis=1)


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


def compare(label: str, scs: list[TrainScenario], plain, goal: float, repeats: int, engine: str) -> None:
    """Time initlab (default engine), initlab's numpy engine and ``plain(scs)``, interleaved; print the medians."""
    t_init, t_np, t_plain = [], [], []
    for _ in range(repeats):
        t_init.append(timed(training.train_many, scs))
        t_plain.append(timed(plain, scs))
        t_np.append(timed(training.train_many, scs, engine="numpy"))
    (a, ac), (b, bc), (c, cc) = ([statistics.median(x) for x in zip(*ts)] for ts in (t_init, t_plain, t_np))
    print(f"{label}: median of {repeats}          wall s    CPU s")
    print(f"  initlab ({engine}):       {a:8.2f} {ac:8.2f}")
    print(f"  initlab (numpy engine):  {c:8.2f} {cc:8.2f}")
    print(f"  plain batched numpy:     {b:8.2f} {bc:8.2f}   (no recording)")
    print(f"  ratio initlab / plain:   {a / b:8.3f} {ac / bc:8.3f}   (goal <= {goal:.2g})")
    print(f"  ratio numpy engine / plain: {c / b:5.3f} {cc / bc:8.3f}")


def agreement(scs: list[TrainScenario], plain) -> str:
    """The line saying how far ``plain``'s parameters are from initlab's after 100 float64 steps of ``scs``."""
    check = [s.replace(dtype="float64", steps=100) for s in scs]
    ours = np.concatenate([x.theta[:, -1] for x in training.train_many(check, records=1)])
    agree = np.max(np.abs(plain(check) - ours)) / np.max(np.abs(ours))
    return (f"  the plain loop's parameters after 100 float64 steps against initlab's: {agree:.1e} of the largest "
            "(the same network and batches, float rounding apart)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a fifth of the steps (3000 and 300)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--only", choices=("classic", "residual", "digits"), help="run one of the three comparisons")
    args = ap.parse_args()
    steps = 3000 if args.quick else 15000
    scs = scenarios(steps, args.dtype)
    res = scenarios(steps // 10, args.dtype, TrainScenario(**RESIDUAL), RESIDUAL_INITS)
    dig = scenarios(steps * 2 // 15, args.dtype, TrainScenario(**DIGITS), RESIDUAL_INITS)
    engine = training._resolve_engine("auto", activations.get(scs[0].activation))
    print(f"threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, engine: {engine}, "
          f"numpy {np.__version__}" + (f", numba {__import__('numba').__version__}" if engine == "numba" else ""))
    cold, warm = compile_times() if engine == "numba" else (0.0, 0.0)
    training.warm_up((args.dtype,))
    if args.only in (None, "classic"):
        compare(f"classic: 3 initializers x 10 restarts x {steps} steps, {args.dtype}, circles 300 points, hidden "
                "(10, 5), relu, full batch", scs, plain_numpy, 0.2, args.repeats, engine)
        single = [timed(training.train, scs[1].replace(restarts=1)) for _ in range(3)]
        med = [statistics.median(x) for x in zip(*single)]
        print(f"  one single run (1 restart, He, {steps} steps): {med[0]:.3f} s wall, {med[1]:.3f} s CPU")
    if args.only in (None, "residual"):
        r = res[0]
        # The same network, the same batches: 100 float64 steps of the plain loop against initlab's. (Longer float32
        # runs drift apart: Adam and the batch statistics amplify rounding differences, to ~0.2 in 1500 steps.)
        agree = agreement(res, plain_numpy_residual)
        compare(f"residual: 3 initializers x {r.restarts} restarts x {r.steps} steps, {args.dtype}, spiral 300 points, "
                f"stem + {r.blocks} pre-norm BatchNorm blocks of 2 layers, width {r.hidden[0]}, relu, batch {r.batch}, "
                f"adam", res, plain_numpy_residual, 1 / 3, args.repeats, engine)
        print(agree)
    if args.only in (None, "digits"):
        d = dig[0]
        agree = agreement(dig, plain_numpy_digits)
        compare(f"digits: 3 initializers x {d.restarts} restarts x {d.steps} steps, {args.dtype}, {d.train_examples} "
                f"images of 64 pixels, hidden {d.hidden}, relu, softmax over 10, batch {d.batch}, sgd", dig,
                plain_numpy_digits, 1 / 2, args.repeats, engine)
        print(agree)
    if engine == "numba":
        print(f"import + numba compile of both dtypes, fresh process: empty cache {cold:.2f} s CPU, "
              f"from the cache {warm:.2f} s CPU")


if __name__ == "__main__":
    main()
