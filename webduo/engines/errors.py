"""The one error an engine reports instead of serving: it could not start, for a reason it can say."""

from __future__ import annotations


class StartupError(Exception):
    """An engine cannot start (its port is taken, say); the message tells why in the user's words.

    Whoever runs the engine prints the message as one line — the ``serve`` command, or the
    supervisor of ``--mode both`` in its report of which engine ended — and no traceback:
    it would only show where the engine gave up, which the message already says.
    """
