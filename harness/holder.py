"""Who holds a run lock, in terms that survive a reboot or a container restart.

A PID alone is not a process: after a reboot (or in a restarted container) the same number may belong
to another program, and a lock keyed by PID would then refuse the run for good. A holder is its PID,
the kernel's boot id (/proc/sys/kernel/random/boot_id: new at every boot) and the process's start
time (field 22 of /proc/PID/stat, in clock ticks since boot): the same three values name the same
process. Where /proc is missing (not Linux), only the PID and the lock's heartbeat are known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def boot_id() -> str:
    """This kernel's boot id, or "" where the system does not publish one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """When process `pid` started (clock ticks since boot), or "" if it is gone or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    pid: int
    boot_id: str  # "" where unknown (a lock written by an older wam-eval, or no /proc)
    started: str  # the process's start time; "" where unknown

    @classmethod
    def me(cls) -> "Holder":
        return cls(os.getpid(), boot_id(), process_start(os.getpid()))

    def verifiable(self) -> bool:
        return bool(self.boot_id and self.started and boot_id())

    def alive(self) -> bool | None:
        """On this host: True if this very process still runs, False if it is gone (exited, or the
        machine rebooted since), None where that cannot be known (then the heartbeat decides)."""
        if not self.verifiable():
            return None
        if self.boot_id != boot_id():
            return False  # rebooted since: nothing of that boot runs
        return pid_alive(self.pid) and process_start(self.pid) == self.started
