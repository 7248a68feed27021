"""First come, first served: page runs are admitted through a FIFO gate, a few at a time per process.

A Streamlit worker runs every session's script in its own thread, and all of them share one GIL. When
200 students open a link at the same moment, 200 script runs interleave, each gets 1/200 of the
interpreter, and every page finishes at the end of the burst: the first student to arrive waits as
long as the last. The gate lets ``INITLAB_PAGE_SLOTS`` runs (default 2) work at a time and queues the
others in arrival order, so pages come out roughly in the order they were asked for and the median
wait is about half the burst instead of all of it.

Why not ``threading.Semaphore``: it wakes an arbitrary waiter, not the first. Here each waiter has its
own condition on one shared lock, and a slot that frees up is handed to the head of the queue directly
(one wake-up per release, not a stampede of 200 threads re-checking).

A run that waits longer than ``INITLAB_QUEUE_TIMEOUT`` seconds leaves the queue and its page says
"busy, retry" (:func:`page_slot`). A slot is always given back, whatever ends the run: a normal end, an
exception, or Streamlit stopping it (``StopException`` when the student leaves, ``RerunException`` when
they change a control mid-run: both derive from ``BaseException``).

A run that needs a heavy computation steps aside while it waits for it and while it runs
(:meth:`FifoGate.step_aside`, used by :mod:`initlab.ui.results.cache`): numpy computes without the GIL, so
the slot serves other pages meanwhile; afterwards the run rejoins the queue in the place of its first
arrival: ahead of every run that arrived after it (when many runs come back from the same computation
at once, they are readmitted in the order they first arrived, not the last one back first).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["FifoGate", "PAGE_GATE", "PAGE_SLOTS", "env_int"]


class _Waiter:
    __slots__ = ("admitted", "cond", "ticket")

    def __init__(self, lock: threading.Lock, ticket: int) -> None:
        self.admitted = False
        self.ticket = ticket
        self.cond = threading.Condition(lock)


class FifoGate:
    """At most ``slots`` holders at a time; the others are admitted strictly in the order they asked.

    ``acquire(timeout)`` returns True once admitted, False after ``timeout`` seconds in the queue (the
    waiter then leaves it). Each holder must :meth:`release` exactly once. A thread holding a slot may
    give it up for a while with :meth:`step_aside`.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        self.slots = slots
        self._lock = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._active = 0
        self._tickets = itertools.count()  # arrival order, kept across step_aside
        self._local = threading.local()  # how many slots this thread holds (0 or 1 in practice)

    # -- state, for tests and logs ------------------------------------------------------------------
    @property
    def active(self) -> int:
        """Slots in use."""
        return self._active

    @property
    def waiting(self) -> int:
        """Runs in the queue."""
        return len(self._queue)

    def held_here(self) -> bool:
        """Whether the calling thread holds a slot."""
        return getattr(self._local, "held", 0) > 0

    # -- acquire / release --------------------------------------------------------------------------
    def acquire(self, timeout: float | None = None, *, front: bool = False,
                on_wait: Callable[[int], None] | None = None) -> bool:
        """Take a slot, waiting in line at most ``timeout`` seconds (None: no limit).

        ``front``: a run coming back from :meth:`step_aside` (admitted once already) joins the queue in
        its first arrival's place, ahead of every later arrival. ``on_wait(position)`` is called,
        without the lock, when the caller has to wait (position 1: next in line); if it raises, the
        caller leaves the queue and the exception propagates.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            ticket = getattr(self._local, "ticket", None) if front else None
            if ticket is None:
                ticket = next(self._tickets)
            if self._active < self.slots and not self._queue:
                self._active += 1
                self._mark_held(+1)
                self._local.ticket = ticket
                return True
            waiter = _Waiter(self._lock, ticket)
            # Rejoining runs keep their first arrival's place: ahead of later arrivals, in order among themselves.
            position = next((i for i, w in enumerate(self._queue) if w.ticket > ticket), len(self._queue))
            self._queue.insert(position, waiter)
            position += 1
        try:
            if on_wait is not None:
                on_wait(position)
            with self._lock:
                while not waiter.admitted:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        self._queue.remove(waiter)
                        return False
                    waiter.cond.wait(remaining)
                self._mark_held(+1)
                self._local.ticket = ticket
                return True
        except BaseException:
            with self._lock:
                if waiter.admitted:  # admitted just as we were leaving: hand the slot on
                    self._active -= 1
                    self._admit_next()
                elif waiter in self._queue:
                    self._queue.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back; the head of the queue (if any) gets it."""
        with self._lock:
            if self._active <= 0:
                raise RuntimeError("release() without a matching acquire()")
            self._active -= 1
            self._mark_held(-1)
            self._admit_next()

    def _admit_next(self) -> None:  # with the lock held
        while self._queue and self._active < self.slots:
            waiter = self._queue.popleft()
            waiter.admitted = True
            self._active += 1
            waiter.cond.notify()

    def _mark_held(self, delta: int) -> None:
        self._local.held = getattr(self._local, "held", 0) + delta

    @contextmanager
    def step_aside(self) -> Iterator[None]:
        """Give this thread's slot to the queue for the duration of the block (a heavy computation,
        or waiting for one), then take one again in its first arrival's place in the queue, without a
        time limit (the run was admitted once). A thread holding no slot (a background warm-up) is not affected."""
        if not self.held_here():
            yield
            return
        self.release()
        try:
            yield
        finally:
            self.acquire(None, front=True)


def env_int(name: str, default: int, lo: int, hi: int) -> int:
    """The integer setting ``$name`` clamped to [lo, hi]; ``default`` when unset or not an integer."""
    try:
        return min(max(int(os.environ.get(name, default)), lo), hi)
    except ValueError:
        return default


# Two runs at a time: one can use the interpreter while the other sends its messages or waits for
# numpy; more only brings back the interleaving the gate is there to prevent (see README, Sizing).
PAGE_SLOTS = env_int("INITLAB_PAGE_SLOTS", 2, 1, 64)
PAGE_GATE = FifoGate(PAGE_SLOTS)
# Streamlit's bundled Material Symbols font: an emoji needs an emoji font, which many machines lack (an empty box).
WAIT_ICON = ":material/hourglass_top:"


@contextmanager
def page_slot(placeholder: object, *, timeout: float, gate: FifoGate | None = None) -> Iterator[None]:
    """Hold a page slot of ``gate`` (default :data:`PAGE_GATE`) for the block: the script run's body.

    While the run waits in line, ``placeholder`` (an ``st.empty()`` the page later fills) says so.
    After ``timeout`` seconds in line the placeholder says the server is busy, the wait is logged, and
    the run stops there (``st.stop()``). The slot is released when the block ends in any way.
    """
    import streamlit as st

    from initlab.ui import logs

    gate = gate or PAGE_GATE

    def waiting(position: int) -> None:
        # One element, and a point where Streamlit may stop this run (the student left or reran).
        placeholder.info(f"Many pages are being opened at this moment: yours is number {position} in line "  # type: ignore[attr-defined]
                         "and comes in turn.", icon=WAIT_ICON)

    if not gate.acquire(timeout, on_wait=waiting):
        logs.warning("busy: a page waited more than %g s for its turn (%d in line, %d slots)", timeout,
                     gate.waiting, gate.slots)
        placeholder.warning(f"The server is busy: too many pages are being opened at once (this one waited "  # type: ignore[attr-defined]
                            f"{timeout:g} s for its turn). Press R or reload the page to retry.", icon=WAIT_ICON)
        st.stop()
        raise RuntimeError("st.stop() returned: not in a Streamlit script run")  # never run the page without a slot
    try:
        yield
    finally:
        gate.release()
