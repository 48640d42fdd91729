"""How a PartConcepts training stops and explains itself: Ctrl-C saves the step under way (`StopRequest`), and a
prompt over the token limit names the option that shortens it (`prompt_hint`)."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

from partbench.errors import PartbenchError


@contextlib.contextmanager
def prompt_hint(max_parts: int | None):
    """A training prompt over the token limit lists every part the plan drew for the object: say which option makes
    them shorter (the user writes no prompt)."""
    from partbench.methods.partconcepts.encoder import PromptTooLongError

    try:
        yield
    except PromptTooLongError as e:
        fewer = f"a --max-parts below {max_parts}" if max_parts else "--max-parts (e.g. 8)"
        raise PartbenchError(f"{e} In training the prompt names the parts drawn for the object: pass {fewer} to "
                             "prompt fewer parts per step.") from None


class StopRequest:
    """Ctrl-C while training: the step under way finishes its optimizer update, the last finished step is saved, then
    the training stops (KeyboardInterrupt), so that resuming loses nothing. A second Ctrl-C stops at once. Only in a
    single process's main thread: processes of a distributed run would stop at different steps and wait for each
    other in the save."""

    def __init__(self, enabled: bool):
        # A process started with SIGINT ignored (nohup, a background job) keeps ignoring it, as Python itself does.
        self.enabled = (enabled and threading.current_thread() is threading.main_thread()
                        and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
        self.asked = False

    def __enter__(self) -> StopRequest:
        if self.enabled:
            self.previous = signal.signal(signal.SIGINT, self._ask)
        return self

    def _ask(self, *_: Any) -> None:
        self.asked = True
        signal.signal(signal.SIGINT, self.previous)

    def __exit__(self, *_: Any) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self.previous)
