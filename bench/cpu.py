"""Where a run's CPU time went, per request: the server's workers, the database, the load
client, and the rest of the machine (the kernel's own threads, other services).

A ratio to the floor says how much dearer a request is; this says who pays for it. The
split is read from Linux's /proc: each process's user and system time, and the whole
machine's busy time, whose remainder after the named processes is "rest". On PostgreSQL
a write's commit shows there, as the kernel threads that complete its disk writes.
"""

import os
import resource
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = ("workers", "database", "client", "rest")


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy since boot, over all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    # guest time is counted in user time already
    return (sum(fields[:8]) - idle) / TICKS


def process_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid``; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def database_seconds() -> dict[int, float]:
    """CPU seconds of each process of a PostgreSQL server on this machine (none for SQLite)."""
    seconds = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres"):
                seconds[int(entry.name)] = process_seconds(int(entry.name))
    return seconds


def children_seconds() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CPUSplit:
    """CPU seconds by group between :meth:`start` and :meth:`stop`.

    The load client must be a child of this process that ends before :meth:`stop`
    (wrk run by ``subprocess.run``), and no other child may end meanwhile.
    """

    def __init__(self, worker_pids: Iterable[int]) -> None:
        self.worker_pids = list(worker_pids)

    def snapshot(self) -> dict[str, float]:
        return {
            "machine": machine_busy(),
            "workers": sum(process_seconds(pid) for pid in self.worker_pids),
            "client": children_seconds(),
        }

    def start(self) -> None:
        self.started, self.database_started = self.snapshot(), database_seconds()

    def stop(self) -> dict[str, float]:
        ended, database_ended = self.snapshot(), database_seconds()
        spent = {name: ended[name] - self.started[name] for name in ended}
        # A backend that started meanwhile spent all its time in the run; one that
        # ended meanwhile is lost to "rest".
        spent["database"] = sum(seconds - self.database_started.get(pid, 0.0)
                                for pid, seconds in database_ended.items())
        named = spent["workers"] + spent["database"] + spent["client"]
        return {
            "workers": spent["workers"],
            "database": spent["database"],
            "client": spent["client"],
            "rest": max(0.0, spent["machine"] - named),
        }


def per_request_us(seconds: dict[str, float], requests: int) -> dict[str, float]:
    """``seconds`` by group as microseconds of CPU per request."""
    return {name: round(seconds[name] / max(requests, 1) * 1e6) for name in GROUPS}
