"""Settler logic with a fake clock: trailing-edge debounce, open writers, urgency, reasons."""

from __future__ import annotations

import logging

import pytest

from config_reloader.watch.settle import ChangeBatch, Settler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_pending() -> None:
    s = Settler(1.0, clock=Clock())
    assert s.due_in() is None
    assert not s.pending


def test_trailing_edge_debounce_restarts_on_every_hint() -> None:
    clock = Clock()
    s = Settler(1.0, clock=clock)
    s.hint("/a")
    assert s.due_in() == pytest.approx(1.0)
    clock.now += 0.8
    s.hint("/b")
    assert s.due_in() == pytest.approx(1.0)
    clock.now += 0.99
    assert s.due_in() == pytest.approx(0.01)
    clock.now += 0.01
    assert s.due_in() == 0
    assert s.take() == ChangeBatch(frozenset({"/a", "/b"}), rescan=False, reason="inotify")
    assert s.due_in() is None


def test_delay_zero_rename_is_due_at_once() -> None:
    s = Settler(0.0, clock=Clock())
    s.hint("/cfg")
    assert s.due_in() == 0


def test_open_writer_holds_the_batch_until_close() -> None:
    clock = Clock()
    s = Settler(0.0, max_open_wait=5.0, clock=clock)
    s.writing("/cfg")
    s.hint("/cfg")
    assert s.due_in() == pytest.approx(5.0)
    clock.now += 2
    s.hint("/cfg")  # another chunk
    assert s.due_in() == pytest.approx(3.0)
    s.closed("/cfg")
    s.hint("/cfg")
    assert s.due_in() == 0
    assert s.take().paths == {"/cfg"}
    assert s.open_files == frozenset()


def test_open_writer_bound_emits_anyway_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    s = Settler(0.5, max_open_wait=2.0, clock=clock)
    s.writing("/log")
    s.hint("/log")
    clock.now += 2.0
    with caplog.at_level(logging.WARNING, logger="config_reloader.watch.settle"):
        assert s.due_in() == 0
        assert s.due_in() == 0
    assert len([r for r in caplog.records if "max_open_wait" in r.getMessage()]) == 1
    s.take()
    assert s.open_files == frozenset()  # forgotten once its wait expired


def test_urgent_rescan_ignores_delay_and_writers() -> None:
    s = Settler(10.0, clock=Clock())
    s.writing("/cfg")
    s.hint("/cfg")
    s.hint(None, reason="overflow", rescan=True, urgent=True)
    assert s.due_in() == 0
    batch = s.take()
    assert batch.rescan and batch.reason == "overflow" and batch.paths == {"/cfg"}


def test_reason_priority() -> None:
    s = Settler(0.0, clock=Clock())
    s.hint("/x")
    s.hint(None, reason="rearm", rescan=True)
    assert s.take().reason == "rearm"
    s.hint("/x", reason="poll")
    assert s.take() == ChangeBatch(frozenset({"/x"}), rescan=False, reason="poll")


def test_rejects_negative_durations() -> None:
    with pytest.raises(ValueError):
        Settler(-1.0)


def test_forget_writers_after_overflow() -> None:
    clock = Clock()
    s = Settler(0.0, max_open_wait=5.0, clock=clock)
    s.writing("/cfg")
    s.hint("/cfg")
    assert s.due_in() == pytest.approx(5.0)
    s.forget_writers()
    assert s.due_in() == 0
