"""The server's shared caches (initlab/ui/results/cache.py): computed once per key, LRU, figures ready to send."""

from __future__ import annotations

import json
import threading
import time

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from initlab.teaching.presets import PRESETS
from initlab.ui.results import cache as compute
from initlab.ui import figures


def test_a_key_asked_for_by_many_at_once_is_computed_once() -> None:
    cache: compute.Shared[int] = compute.Shared(8, "test")
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 7

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("k", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got == [7] * 8 and calls == [1]


def test_failures_are_not_cached_and_a_waiter_retries() -> None:
    cache: compute.Shared[int] = compute.Shared(8, "test")
    with pytest.raises(ZeroDivisionError):
        cache.get("k", lambda: 1 // 0)
    assert len(cache) == 0 and not cache.running
    assert cache.get("k", lambda: 3) == 3


def test_least_recently_used_entries_go_first() -> None:
    cache: compute.Shared[str] = compute.Shared(2, "test")
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "never")  # a hit: "a" is now the most recent
    cache.get("c", lambda: "C")
    assert list(cache.done) == ["a", "c"]
    cache.clear()
    assert len(cache) == 0


def test_the_decorator_keys_on_arguments_and_their_types() -> None:
    calls: list[object] = []

    @compute.shared(8)
    def f(x: object) -> str:
        calls.append(x)
        return repr(x)

    assert f(1) == "1" and f(1.0) == "1.0" and f(True) == "True"  # equal, but not the same input
    assert f(1) == "1" and len(calls) == 3
    f.clear()  # type: ignore[attr-defined]
    assert f(1) == "1" and len(calls) == 4


def test_clear_all_empties_every_cache() -> None:
    s = PRESETS["he_relu"].scenario
    compute.propagate(s)
    compute.figure("signal", (s, "act_std"), figures.FIGURES["signal"])
    assert len(compute.propagate.cache) > 0 and len(compute._FIGURES) > 0  # type: ignore[attr-defined]
    compute.clear_all()
    assert len(compute.propagate.cache) == 0 and len(compute._FIGURES) == 0  # type: ignore[attr-defined]


def test_a_shared_figure_sends_exactly_what_the_figure_would() -> None:
    s = PRESETS["std1_explodes"].scenario
    for name, args in (("signal", (s, "act_std")), ("heatmap", (s, "act")), ("fractions", ((("x", s),),))):
        plain = figures.FIGURES[name](*args)
        want = pio.to_json(plain.to_dict(), validate=False)
        fig = compute.figure(name, args, figures.FIGURES[name])
        assert isinstance(fig, compute.SpecFigure) and isinstance(fig, go.Figure)
        assert fig.to_dict() is fig.to_dict()  # made once
        # What st.plotly_chart sends (plotly.tools + plotly.io, as Streamlit 1.67 calls them).
        import plotly.tools

        sent = pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)
        assert sent == want
        assert pio.to_json(fig.to_dict(), validate=False) == want  # and sending it changed nothing
        assert fig.layout.yaxis.type == plain.layout.yaxis.type  # the figure itself still reads as one
        assert json.loads(sent)["data"]


def test_ready_to_send_makes_the_same_figure_with_its_dictionary_made_once() -> None:
    fig = go.Figure(go.Scatter(y=[1, 3, 2]), layout={"yaxis": {"type": "log"}})
    spec = go.Figure.to_dict(fig)
    ready = compute.ready_to_send(fig)
    assert isinstance(ready, go.Figure) and type(fig) is go.Figure  # built, not converted
    assert ready.to_dict() is ready.to_dict() and ready.to_dict() == spec  # made once, what plotly would send
    assert go.Figure.to_dict(ready) == spec and ready.layout.yaxis.type == "log"  # the same figure


def test_a_result_read_by_peek_counts_as_used() -> None:
    """The training cache is read with peek on every page: a result read often must outlive ones never read
    again (it was evicted in insertion order whatever its use)."""
    cache: compute.Shared[int] = compute.Shared(2, "test")
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    assert cache.peek("a") == 1  # a is now the most recently used
    cache.get("c", lambda: 3)  # evicts the least recently used: b
    assert cache.peek("a") == 1 and cache.peek("b") is None and cache.peek("c") == 3


def test_overlapping_trainings_of_two_sessions_train_each_initializer_once(monkeypatch) -> None:
    """A session asking for zeros + He while another trains zeros + N(0,1) x 10 waits for zeros instead of
    training it again (the warm-up trains one initializer at a time, students whole comparisons)."""
    from initlab.training import engine as training
    from initlab.training.scenario import TrainScenario

    monkeypatch.setattr(compute, "stored", lambda kind, *args: compute._MISSING)  # no store: compute
    compute.train.clear()
    base = TrainScenario(steps=3000, restarts=3, data_seed=777)
    zeros, big, he = base.with_init("zeros"), base.with_init("random_normal", stddev=10.0), base
    trained: list[TrainScenario] = []
    real = training.iter_train

    def counting(scenarios, **kw):  # type: ignore[no-untyped-def]
        trained.extend(scenarios)
        return real(scenarios, **kw)

    monkeypatch.setattr(training, "iter_train", counting)
    out: dict[str, tuple] = {}
    first = threading.Thread(target=lambda: out.setdefault("first", compute.train((zeros, big))))
    first.start()
    time.sleep(0.05)  # the first has claimed zeros and N(0, 1) x 10
    out["second"] = compute.train((zeros, he))
    first.join(60)
    assert sorted(map(repr, trained)) == sorted(map(repr, (zeros, big, he)))  # each once
    assert out["second"][0] is out["first"][0]  # the same zeros result, shared
    compute.train.clear()
