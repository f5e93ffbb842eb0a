"""Running a command: its errors become one line (or one JSON object) and exit 1, usage errors
found late go to the parser (exit 2), Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129, and a closed
stdout (`| head`) ends it quietly.

Belongs here: run() and the signals it handles, and holding them while worker threads share
locks. Does not belong here: any command's work.
`_signal` is the C module under `signal`, without the enum wrappers that cost 5% of start-up.
"""
from __future__ import annotations

import _signal
import sys

from gradient_inference.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, GradientError, Terminated, UsageError
from gradient_inference.core.output import flush_stdout, log, printable, report_error, silence_stdout

DEPENDENCIES = ("requests", "urllib3", "bs4", "charset_normalizer", "idna", "certifi", "soupsieve")


def _terminate(signum, frame):
    raise Terminated(signum)


def handle_signals() -> dict:
    """SIGTERM and SIGHUP end the command like Ctrl-C does (temporary files removed); a signal
    the parent set to be ignored (nohup) stays ignored. Returns the handlers to restore."""
    previous = {}
    for signum in (getattr(_signal, name, None) for name in ("SIGTERM", "SIGHUP")):
        if signum is None or _signal.getsignal(signum) == _signal.SIG_IGN:
            continue
        try:
            previous[signum] = _signal.signal(signum, _terminate)
        except ValueError:  # not the main thread
            pass
    return previous


class HeldSignals:
    """Ctrl-C, SIGTERM and SIGHUP held while the main thread works with locks its worker threads
    share: a signal raised inside a queue's lock (between taking it and the `with` that frees it)
    leaves it held for ever, and the run hangs instead of stopping. A held signal is raised at the
    next check(), or at once inside interruptible() (a blocking read, holding no lock) or when it
    comes a second time; one still held at the end is raised then.

        with HeldSignals() as signals:
            ... signals.check() ... with signals.interruptible(): line = next(items)
    """

    def __init__(self):
        self.pending, self.count, self.safe, self.previous = None, 0, False, {}

    def __enter__(self):
        for signum in (getattr(_signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")):
            if signum is None or _signal.getsignal(signum) == _signal.SIG_IGN:
                continue  # ignored by the parent (nohup, a background job): it stays ignored
            try:
                self.previous[signum] = _signal.signal(signum, self._hold)
            except ValueError:  # not the main thread: nothing to hold
                pass
        return self

    def __exit__(self, kind, error, trace):
        for signum, handler in self.previous.items():
            _signal.signal(signum, handler)
        if kind is None:
            self.check()
        return False

    def _hold(self, signum, frame):
        self.pending, self.count = signum, self.count + 1
        if self.safe or self.count > 1:
            self.check()

    def check(self) -> None:
        """Raise a held signal: KeyboardInterrupt for Ctrl-C, Terminated for SIGTERM and SIGHUP."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise KeyboardInterrupt() if signum == _signal.SIGINT else Terminated(signum)

    def interruptible(self):
        return _Interruptible(self)


class _Interruptible:
    def __init__(self, held: HeldSignals):
        self.held = held

    def __enter__(self):
        self.held.safe = True
        self.held.check()

    def __exit__(self, kind, error, trace):
        self.held.safe = False
        return False


def run(work, as_json: bool = False, parser=None) -> int:
    """Run a command's work (a callable returning its exit code): errors become one line (one
    JSON object with `as_json`) and exit 1, usage errors found late go to parser.error (exit 2),
    Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129 (128 + the signal), a closed stdout (`| head`)
    exits quietly."""
    previous = handle_signals()
    try:
        code = work()
        flush_stdout()
        return code
    except UsageError as error:
        if parser is None:
            raise
        parser.error(printable(str(error), sys.stderr))  # a server's tool call id may be in it: masked, escaped
    except GradientError as error:
        report_error(error, as_json)
        return EXIT_FAILURE
    except ModuleNotFoundError as missing:  # a Python without the dependencies (a cron job's system Python)
        name = next((n for n in DEPENDENCIES if n == (missing.name or "").split(".")[0] or f" {n}" in str(missing)),
                    None)
        if name is None:
            raise
        report_error(GradientError("config", f"the Python package {name} is not installed for "
                                   f"{sys.executable}", hint="install the dependencies (pip install requests "
                                   "beautifulsoup4), or run the script with uv run, which installs them from its "
                                   "header"), as_json)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        log("interrupted")
        return EXIT_INTERRUPTED
    except Terminated as stop:
        log("terminated")
        return 128 + stop.args[0]
    except BrokenPipeError:
        silence_stdout()
        return EXIT_FAILURE
    finally:
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
