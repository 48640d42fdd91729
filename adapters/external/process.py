"""The partbench side of the worker protocol (see `worker.py`): start the external environment's interpreter once,
send batches, collect the per-sample PNGs it writes. The model therefore loads once per run, however the run loop
batches samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

PREFIX = "PARTBENCH "
WORKER_SCRIPT = Path(__file__).with_name("worker.py")


@dataclass
class WorkerCommand:
    python: Path
    repo: Path
    script: Path = WORKER_SCRIPT
    driver: str = "partcatseg"
    checkpoint: str = ""
    config: str = ""
    device: str = ""
    opts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        argv = [str(self.python), str(self.script), "--driver", self.driver, "--checkpoint", self.checkpoint,
                "--config", self.config, "--device", self.device]
        # Only when given, so a user's own worker script (script=) that predates --opts keeps working.
        return argv + (["--opts", json.dumps(self.opts)] if self.opts else [])


class ExternalWorker:
    """One long-lived worker process. Messages are "PARTBENCH {json}" lines on its stdout; other stdout lines (the
    codebase's logging) are forwarded to our stderr so they neither corrupt the protocol nor disappear."""

    def __init__(self, command: WorkerCommand, what: str, expected_protocol: int):
        self.what = what
        env = os.environ | command.env
        # The checkout must be importable, and the worker must not see partbench's own venv packages.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(command.repo), command.env.get("PYTHONPATH", "")]))
        env.pop("VIRTUAL_ENV", None)
        try:
            self.proc = subprocess.Popen(command.argv(), cwd=command.repo, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)
        except OSError as e:
            raise PartbenchError(f"{what}: cannot start {command.python} ({e}). Pass the external environment's "
                                 f"interpreter with --method-arg python=PATH.") from None
        self.argv = command.argv()
        ready = self._receive()
        if ready.get("event") != "ready":
            raise PartbenchError(f"{what}: worker did not report ready (got {ready}).")
        if ready.get("protocol") != expected_protocol:
            raise PartbenchError(f"{what}: worker {command.script} speaks protocol {ready.get('protocol')}, partbench "
                                 f"expects {expected_protocol}; use the worker shipped with this partbench.")
        self.classes = ready.get("classes")

    def _receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX):])
            sys.stderr.write(line)
        code = self.proc.wait()
        raise PartbenchError(f"{self.what}: the worker exited with status {code} before answering (command: "
                             f"{' '.join(self.argv)}). Its error output is above.")

    def predict(self, request: dict[str, Any]) -> list[str]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"cmd": "predict"} | request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise PartbenchError(f"{self.what}: the worker has exited (status {self.proc.wait()}).") from None
        reply = self._receive()
        if reply.get("event") == "error":
            raise PartbenchError(f"{self.what}: the external codebase failed on {reply.get('message')}.")
        if reply.get("event") != "done":
            raise PartbenchError(f"{self.what}: unexpected reply from the worker: {reply}.")
        return list(reply.get("ids", []))

    def close(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
            self.proc.stdin.close()
            # Drain remaining output (logs) so the worker cannot block on a full pipe while exiting.
            drain = threading.Thread(target=lambda: [sys.stderr.write(line) for line in self.proc.stdout or []],
                                     daemon=True)
            drain.start()
            self.proc.wait(timeout=timeout)
        except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait()
