"""core.runner.HeldSignals: Ctrl-C, SIGTERM and SIGHUP held while worker threads share locks, and
raised where it is safe (a signal raised inside a queue's lock once hung a stopping batch)."""
from __future__ import annotations

import os
import signal

import pytest

from gradient_inference.core.errors import Terminated
from gradient_inference.core.runner import HeldSignals


def send(signum):
    os.kill(os.getpid(), signum)  # delivered to this (the main) thread before the next line runs


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated),
                                            (signal.SIGHUP, Terminated)])
def test_a_signal_is_held_until_the_next_check(signum, raised):
    reached = []
    with pytest.raises(raised):
        with HeldSignals() as held:
            send(signum)
            reached.append("after the signal")  # not interrupted here, where a lock could be held
            held.check()
            reached.append("after the check")
    assert reached == ["after the signal"]


def test_inside_interruptible_it_is_raised_at_once():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with HeldSignals() as held:
            with held.interruptible():
                send(signal.SIGINT)
                reached.append("never")
    assert reached == []


def test_a_second_signal_is_raised_at_once_and_one_still_held_at_the_end_is_raised_then():
    with pytest.raises(KeyboardInterrupt):
        with HeldSignals():
            send(signal.SIGINT)
            send(signal.SIGINT)
            pytest.fail("the second Ctrl-C did not stop it")
    with pytest.raises(Terminated):
        with HeldSignals():
            send(signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are put back


def test_a_signal_the_parent_ignores_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with HeldSignals() as held:
            send(signal.SIGHUP)
            held.check()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
