"""The compiled engine's numbers do not depend on the process's history.

numba links a copy of every helper a jitted function calls (and does not inline) into the caller's
module, re-optimises it there and gives it a weak symbol; loading the caller's object code from numba's
on-disk cache, the JIT linker binds those calls to an already loaded definition of the same symbol if
there is one (the helper's own library: loaded when something compiled it, e.g. a compilation of the
kernel in this process) and to the caller's copy otherwise. A helper with reassociated sums computes
them in another order in the two copies, so a training differed in the last bits between a process that
compiled the kernel (or had loaded the helpers) and one that loaded it from the cache. The kernel's
reassociating helpers are therefore inlined by numba (``inline="always"``): no second copy exists.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from initlab.training import kernel as _train_jit

ROOT = Path(__file__).resolve().parents[1]

# Trains small networks through every op with reductions (BatchNorm and LayerNorm statistics, learned
# alphas, softmax, the BLAS kernel of wide softmax MLPs) and prints a hash of everything recorded. With "preload" it first loads, from numba's
# cache, every compiled version of every kernel helper except the kernels themselves (as a process that has
# compiled the kernel, or anything else calling its helpers, has them loaded).
SCRIPT = r"""
import hashlib, sys
import numpy as np
if sys.argv[1] == "preload":
    from numba.core.registry import CPUDispatcher
    from initlab.training import kernel as K
    for d in vars(K).values():
        if isinstance(d, CPUDispatcher) and d not in (K._kernel, K._mlp_kernel) and d._cache is not None:
            magic = d.targetctx.codegen().magic_tuple()
            for key in d._cache._cache_file._load_index():
                if key[1] == magic:
                    d.compile(key[0])
from initlab.training.engine import train
from initlab.training.scenario import TrainScenario
h = hashlib.sha256()
base = TrainScenario(dataset="spiral", hidden=(16,) * 4, optimizer="adam", steps=20, batch_size=64, restarts=1,
                     dtype="float32")
for ts in (base.replace(block="residual", norm="batch"),
           base.replace(block="residual", norm="layer", activation="gelu"),
           base.replace(block="residual", residual_learned=True, activation="tanh"),
           base.replace(norm="batch", activation="swish", dtype="float64")):
    r = train(ts, records=4, engine="numba")
    for a in (r.loss, r.test_loss, r.grad_norm, r.theta, r.norm_state):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
# a wide softmax network (digits): the BLAS kernel of plain softmax MLPs
r = train(TrainScenario(dataset="digits", classes=10, hidden=(32,), steps=20, batch_size=64, restarts=2,
                        n_train=400, n_test=100), records=4, engine="numba")
for a in (r.loss, r.test_loss, r.grad_norm, r.theta, r.dead_share):
    h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def _run(mode: str) -> str:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.skipif(not _train_jit.AVAILABLE, reason="numba is not installed: only the numpy engine")
def test_training_does_not_depend_on_which_compiled_helpers_a_process_has_loaded():
    first = _run("plain")  # compiles the kernel into numba's cache if it is not there yet
    cached = _run("plain")  # the kernel from the cache, its helpers never loaded on their own
    preloaded = _run("preload")  # the kernel from the cache after its helpers' own libraries
    assert cached == preloaded == first
