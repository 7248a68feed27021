"""The FIFO gate for page runs (initlab/ui/gate.py): order, slots, time limit, release on every exit.

The gate itself is tested with plain threads; its use in app.py with AppTest: the slot comes back
after a normal run, a page error, an exception outside the pages, ``st.stop()`` and ``st.rerun()``
(Streamlit's StopException / RerunException), and a run that waits too long says "busy, retry".
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from initlab.ui.results import cache as compute
from initlab.ui import gate
from initlab.ui import pages
from initlab.ui import state
from initlab.ui.gate import FifoGate
from tests.app_util import APP, TIMEOUT, open_link



def wait_until(cond, limit: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def start_waiters(g: FifoGate, n: int, order: list[int], hold: float = 0.0) -> list[threading.Thread]:
    """``n`` threads that take a slot one after another in the queue (each joins it only once the
    previous one is in it), note their number when admitted, and give the slot back."""
    threads = []
    for i in range(n):
        def work(i: int = i) -> None:
            assert g.acquire(30)
            order.append(i)
            time.sleep(hold)
            g.release()

        t = threading.Thread(target=work, daemon=True)
        before = g.waiting
        t.start()
        wait_until(lambda: g.waiting == before + 1)
        threads.append(t)
    return threads


# ------------------------------------------------------------------------------------------ the gate


def test_waiters_are_admitted_in_the_order_they_arrived() -> None:
    g = FifoGate(1)
    assert g.acquire(1)
    order: list[int] = []
    threads = start_waiters(g, 12, order)
    assert g.active == 1 and g.waiting == 12 and order == []
    g.release()
    for t in threads:
        t.join(10)
    assert order == list(range(12))
    assert g.active == 0 and g.waiting == 0


def test_at_most_slots_holders_at_once_and_still_in_order() -> None:
    g = FifoGate(3)
    for _ in range(3):
        assert g.acquire(1)
    inside, peak = [0], [0]
    lock = threading.Lock()
    order: list[int] = []

    def work(i: int) -> None:
        assert g.acquire(30)
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
            order.append(i)
        time.sleep(0.01)
        with lock:
            inside[0] -= 1
        g.release()

    threads = []
    for i in range(9):
        t = threading.Thread(target=work, args=(i,), daemon=True)
        t.start()
        wait_until(lambda i=i: g.waiting == i + 1)
        threads.append(t)
    for _ in range(3):
        g.release()
    for t in threads:
        t.join(10)
    # Admitted strictly in order; runs admitted together (at most 3) may note it in any order.
    assert sorted(order) == list(range(9))
    assert all(abs(pos - i) < 3 for pos, i in enumerate(order)), order
    assert peak[0] <= 3
    assert g.active == 0


def test_a_free_slot_is_taken_at_once() -> None:
    g = FifoGate(2)
    t0 = time.monotonic()
    assert g.acquire(5) and g.acquire(5)
    assert time.monotonic() - t0 < 0.5
    assert g.active == 2 and g.held_here()
    g.release()
    g.release()
    assert not g.held_here()
    with pytest.raises(RuntimeError):
        g.release()


def test_a_waiter_leaves_the_queue_after_its_time_limit() -> None:
    g = FifoGate(1)
    assert g.acquire(1)
    t0 = time.monotonic()
    assert g.acquire(0.2) is False
    assert 0.15 < time.monotonic() - t0 < 5
    assert g.waiting == 0 and g.active == 1
    # The next one in line is not held up by the one that gave up.
    order: list[int] = []
    threads = start_waiters(g, 2, order)
    g.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1] and g.active == 0


def test_on_wait_is_told_the_position_and_an_exception_there_leaves_the_queue() -> None:
    g = FifoGate(1)
    assert g.acquire(1)
    order: list[int] = []
    start_waiters(g, 2, order)
    positions: list[int] = []

    class Stopped(BaseException):  # like Streamlit's StopException
        pass

    def stop(position: int) -> None:
        positions.append(position)
        raise Stopped

    with pytest.raises(Stopped):
        g.acquire(5, on_wait=stop)
    assert positions == [3]
    assert g.waiting == 2  # the two before it stay in line
    g.release()
    wait_until(lambda: order == [0, 1] and g.active == 0)
    seen: list[int] = []
    assert g.acquire(5, on_wait=seen.append) and seen == []  # not called when there is no wait
    g.release()


def test_step_aside_lends_the_slot_and_comes_back_first() -> None:
    g = FifoGate(1)
    assert g.acquire(1)
    order: list[int] = []
    threads = start_waiters(g, 3, order, hold=0.05)
    with g.step_aside():
        wait_until(lambda: order == [0])  # the slot went to the head of the queue
        assert not g.held_here()
    # Back at the head of the queue: before waiters 1 and 2.
    assert g.held_here() and order == [0]
    g.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2] and g.active == 0
    with g.step_aside():  # a thread holding no slot (the warm-up) is not affected
        assert g.active == 0
    assert g.active == 0


def test_slots_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("INITLAB_PAGE_SLOTS", "3")
    assert gate.env_int("INITLAB_PAGE_SLOTS", 2, 1, 64) == 3
    monkeypatch.setenv("INITLAB_PAGE_SLOTS", "zero")
    assert gate.env_int("INITLAB_PAGE_SLOTS", 2, 1, 64) == 2
    monkeypatch.setenv("INITLAB_PAGE_SLOTS", "0")
    assert gate.env_int("INITLAB_PAGE_SLOTS", 2, 1, 64) == 1
    with pytest.raises(ValueError):
        FifoGate(0)


def test_a_computation_waits_outside_the_gate(monkeypatch) -> None:
    """A run waiting for another session's computation gives its slot to the queue meanwhile."""
    g = FifoGate(1)
    monkeypatch.setattr(compute, "PAGE_GATE", g)
    cache: compute.Shared[int] = compute.Shared(4, "test")
    started, finish = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        started.set()
        finish.wait(10)
        return 42

    got: list[int] = []
    owner = threading.Thread(target=lambda: got.append(cache.get("k", slow)), daemon=True)
    owner.start()
    started.wait(10)
    assert g.acquire(1)  # this thread is a page run holding the only slot

    order: list[int] = []
    threads = start_waiters(g, 1, order)
    waiter_result: list[int] = []

    def page_waiting_for_k() -> None:  # holds the slot, then waits for "k"
        waiter_result.append(cache.get("k", slow))

    # The page run (this thread) asks for "k", which the owner is computing: it steps aside.
    finish_later = threading.Timer(0.3, finish.set)
    finish_later.start()
    page_waiting_for_k()
    assert waiter_result == [42] and calls == [1]  # computed once
    assert order == [0]  # the queued run got the slot while this one waited
    assert g.held_here()  # and this run has it back
    g.release()
    owner.join(10)
    for th in threads:
        th.join(10)
    assert got == [42] and g.active == 0


# ---------------------------------------------------------------------------------------- in app.py


@pytest.fixture
def fresh_gate(monkeypatch) -> FifoGate:
    """A gate of its own for the app (a module-level object: the test swaps it in for one test)."""
    g = FifoGate(2)
    monkeypatch.setattr(gate, "PAGE_GATE", g)
    monkeypatch.setattr(compute, "PAGE_GATE", g)
    return g


def test_a_normal_run_gives_its_slot_back(fresh_gate: FifoGate) -> None:
    at = open_link({"preset": "he_relu"})
    assert not at.exception
    assert at.markdown[0].value.startswith("### What does the choice")
    assert fresh_gate.active == 0 and fresh_gate.waiting == 0


def test_a_failing_page_gives_its_slot_back(fresh_gate: FifoGate, monkeypatch) -> None:
    def broken(values):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(pages.PAGES, "signal", broken)
    at = open_link()
    assert any("could not be drawn" in e.value for e in at.error)
    assert fresh_gate.active == 0


def test_an_exception_outside_the_pages_gives_its_slot_back(fresh_gate: FifoGate, monkeypatch) -> None:
    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("state broke")

    monkeypatch.setattr(state, "current", broken)
    at = open_link()
    assert at.exception  # Streamlit shows it (students see no details: showErrorDetails = "none")
    assert fresh_gate.active == 0


def test_st_stop_in_a_page_gives_its_slot_back(fresh_gate: FifoGate, monkeypatch) -> None:
    import streamlit as st

    def stops(values):  # type: ignore[no-untyped-def]
        st.markdown("before the stop")
        st.stop()  # StopException, as when a student leaves in the middle of a run

    monkeypatch.setitem(pages.PAGES, "signal", stops)
    at = open_link()
    assert not at.exception
    assert "before the stop" in [m.value for m in at.markdown]
    assert fresh_gate.active == 0


def test_a_rerun_in_the_middle_of_a_run_gives_its_slot_back(fresh_gate: FifoGate, monkeypatch) -> None:
    import streamlit as st

    runs: list[int] = []
    held: list[int] = []
    signal = pages.PAGES["signal"]

    def reruns_once(values):  # type: ignore[no-untyped-def]
        held.append(fresh_gate.active)
        runs.append(1)
        if len(runs) == 1:
            st.rerun()  # RerunException, as when a control changes mid-run
        signal(values)

    monkeypatch.setitem(pages.PAGES, "signal", reruns_once)
    at = open_link()
    assert not at.exception
    assert len(runs) == 2 and held == [1, 1]  # the second run got a slot: the first gave it back
    assert at.get("plotly_chart")
    assert fresh_gate.active == 0


def test_a_run_that_waits_too_long_says_busy_and_gives_up(fresh_gate: FifoGate, monkeypatch, caplog) -> None:
    monkeypatch.setattr(compute, "QUEUE_TIMEOUT", 0.3)
    for _ in range(fresh_gate.slots):
        assert fresh_gate.acquire(1)  # every slot busy (other students' pages)
    try:
        with caplog.at_level(logging.WARNING, logger="initlab"):
            at = open_link({"preset": "he_relu"})
    finally:
        for _ in range(fresh_gate.slots):
            fresh_gate.release()
    assert not at.exception
    busy = [w.value for w in at.warning]
    assert busy and busy[0].startswith("The server is busy") and "retry" in busy[0]
    assert not at.get("plotly_chart") and not at.tabs  # nothing else was drawn
    assert any("busy: a page waited more than 0.3 s" in r.getMessage() for r in caplog.records)
    assert fresh_gate.active == 0 and fresh_gate.waiting == 0
    at.run()  # retry: the slots are free now
    assert not at.warning or not at.warning[0].value.startswith("The server is busy")
    assert at.get("plotly_chart")


def test_a_waiting_run_says_it_is_in_line_then_draws_the_page(fresh_gate: FifoGate) -> None:
    for _ in range(fresh_gate.slots):
        assert fresh_gate.acquire(1)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["preset"] = "he_relu"
    seen: list[str] = []
    runner = threading.Thread(target=at.run, daemon=True)
    runner.start()
    wait_until(lambda: fresh_gate.waiting == 1)
    seen.append("queued")
    for _ in range(fresh_gate.slots):
        fresh_gate.release()
    runner.join(TIMEOUT)
    assert seen == ["queued"]
    assert not at.exception
    assert at.markdown[0].value.startswith("### What does the choice")  # the "in line" box was replaced
    assert at.get("plotly_chart")
    assert fresh_gate.active == 0


def test_runs_back_from_a_shared_computation_keep_their_arrival_order(monkeypatch) -> None:
    """A cold burst: every page waits for the same computation (stepping aside), then all come back at
    once. They must be readmitted in the order they first arrived, not the last one back first."""
    g = FifoGate(1)
    monkeypatch.setattr(compute, "PAGE_GATE", g)
    cache = compute.Shared(8, "test")
    done: list[int] = []

    def page(i: int) -> None:
        assert g.acquire(10)
        try:
            cache.get("key", lambda: compute._throttled(time.sleep, 0.5))
            time.sleep(0.02)  # the rest of the page: interpreter work under the slot
            done.append(i)
        finally:
            g.release()

    threads = []
    for i in range(6):
        threads.append(threading.Thread(target=page, args=(i,)))
        threads[-1].start()
        time.sleep(0.03)  # arrivals 30 ms apart, all within the 0.5 s computation
    for t in threads:
        t.join(10)
    assert done == [0, 1, 2, 3, 4, 5] and g.active == 0


def test_a_run_that_timed_out_never_gives_back_a_slot_it_did_not_have() -> None:
    """Without a script run context ``st.stop()`` returns instead of raising: the page must still not
    run, and the slots of the two runs that hold them must stay theirs."""
    class Placeholder:
        def info(self, *a: object, **k: object) -> None: ...
        def warning(self, *a: object, **k: object) -> None: ...

    g = FifoGate(2)
    assert g.acquire(0) and g.acquire(0)
    ran: list[bool] = []
    with pytest.raises(RuntimeError, match="st.stop"):
        with gate.page_slot(Placeholder(), timeout=0.05, gate=g):
            ran.append(True)
    assert ran == [] and g.active == 2 and g.waiting == 0
