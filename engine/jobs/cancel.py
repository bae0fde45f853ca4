"""The cancel token: one flag that a job, a live window or a replica call checks between steps.

>>> token = CancelToken()
>>> token.is_set()
False
>>> token.cancel()
>>> token.is_set()
True
"""

from __future__ import annotations

import threading

from ..errors import EngineError


class CancelToken(threading.Event):
    """Set once to ask running work to stop; the work checks it at its next step.

    It is a :class:`threading.Event` (waitable, ``is_set``), so code that only needs the flag takes
    either; ``check`` turns a set token into the ``cancelled`` error.

    >>> token = CancelToken()
    >>> token.check()                  # not set: nothing happens
    >>> token.cancel()
    >>> token.check("the window was cancelled")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    musicgen_bridge.engine.errors.EngineError: cancelled: the window was cancelled
    """

    def cancel(self) -> None:
        """Ask the work to stop (idempotent)."""
        self.set()

    def check(self, message: str = "the job was cancelled") -> None:
        """Raise ``cancelled`` if the token is set."""
        if self.is_set():
            raise EngineError("cancelled", message)
