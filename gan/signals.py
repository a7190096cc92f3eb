"""Ctrl-C and SIGTERM: one line while the program starts, a saved checkpoint once training runs.

* ``quiet_start(train)``, called by dcgan.py before NumPy loads: Ctrl-C
  during the slow imports prints ``interrupted`` instead of a traceback
  (``one_line_on_ctrl_c``), and SIGTERM prints one line and exits 143
  (``stop_on_sigterm`` for the train command, ``stop_writing_on_sigterm``
  for generate and evaluate, whose half-written output is removed on the way out).
* ``StopRequest``: during training, the first Ctrl-C or SIGTERM asks the
  loop to stop after the current step and save; a second aborts at once.

This module imports only the standard library (and ``gan/__init__.py``
imports nothing): it must load before NumPy does.
"""
import signal
import sys


def quiet_start(train):
    """Install the start-up handlers: the Ctrl-C excepthook, and the SIGTERM one (``train``: the train command,
    whose training loop later hears SIGTERM itself; else generate or evaluate)."""
    sys.excepthook = one_line_on_ctrl_c
    signal.signal(signal.SIGTERM, stop_on_sigterm if train else stop_writing_on_sigterm)


def one_line_on_ctrl_c(kind, value, tb):
    """sys.excepthook while NumPy and friends load: Ctrl-C is one line, not a traceback. Also when Python
    wrapped it: a KeyboardInterrupt inside a class body's ``__set_name__`` (platform.py has one) comes
    back as a RuntimeError caused by it."""
    cause = value
    while cause is not None and not isinstance(cause, KeyboardInterrupt):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        print("interrupted", file=sys.stderr)
    else:
        sys.__excepthook__(kind, value, tb)


def stop_on_sigterm(signum, frame):
    """SIGTERM while no training step runs (NumPy loading, the data loading, a run being set up): one line and
    exit 143, as SIGTERM's default would, but saying so. Nothing unsaved is lost then: a run folder is changed
    only once training starts, and during training ``StopRequest`` handles SIGTERM itself (save, then stop)."""
    print("stopped by SIGTERM while no training ran: nothing was lost", file=sys.stderr)
    sys.exit(128 + signum)


def stop_writing_on_sigterm(signum, frame):
    """SIGTERM in generate or evaluate: one line and exit 143, through SystemExit, so that what is being written
    is cleaned up on the way out (a staged output folder removed, a temp file deleted): their outputs appear whole
    or not at all."""
    print("stopped by SIGTERM: nothing was written (what was half-written is removed)", file=sys.stderr)
    sys.exit(128 + signum)


class StopRequest:
    """Ctrl-C or SIGTERM (what `timeout`, Docker and Slurm send) asks the loop to stop after the
    current step and save; a second one aborts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = None                     # the name of the signal that asked, once one has

    def __enter__(self):
        self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
