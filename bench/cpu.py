"""Where a run's CPU time went, per request: the server's workers, the database, the load
client, and the rest of the machine (the kernel's own threads, other services).

A ratio to the floor says how much dearer a request is; this says who pays for it. The
split is read from Linux's /proc: each process's user and system time, and the whole
machine's busy time, whose remainder after the named processes is "rest". On PostgreSQL
a write's commit shows there, as the kernel threads that complete its disk writes.

"database" is the processes of the servers the benchmark uses, each found by its
postmaster's process ID (:func:`postmaster_of`): the postmaster and its children. On a
Citus cluster those are split further into the coordinator's and the worker nodes'
(:data:`DATABASE_PARTS`); a server on this machine that the run does not use (another
cluster, another user's) falls to "rest". Without postmasters every PostgreSQL process
on the machine counts as "database".
"""

import os
import resource
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = ("workers", "database", "client", "rest")
# The parts of "database" on a Citus cluster, when they are known.
DATABASE_PARTS = ("coordinator", "worker_nodes")


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy since boot, over all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    # guest time is counted in user time already
    return (sum(fields[:8]) - idle) / TICKS


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (state first); None once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def process_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid``; 0 once it is gone."""
    fields = stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / TICKS


def is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        return False


def postmaster_of(backend_pid: int) -> int | None:
    """The postmaster of a PostgreSQL backend (``pg_backend_pid()``), if both are processes
    of this machine; None for a server elsewhere (whose process IDs mean nothing here)."""
    fields = stat_fields(backend_pid)
    if fields is None or not is_postgres(backend_pid):
        return None
    parent = int(fields[1])
    return parent if is_postgres(parent) else None


def database_seconds(postmasters: dict[str, list[int]] | None) -> dict[int, tuple[str, float]]:
    """Each PostgreSQL process's part of "database" and its CPU seconds: the processes of
    ``postmasters`` (a part's name, its postmasters), or, without them, every PostgreSQL
    process on this machine as "database" (none for SQLite)."""
    part_of = {pid: part for part, pids in (postmasters or {}).items() for pid in pids}
    seconds = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not is_postgres(int(entry.name)):
            continue
        pid = int(entry.name)
        fields = stat_fields(pid)
        if fields is None:
            continue
        part = part_of.get(pid) or part_of.get(int(fields[1]))
        if postmasters is None:
            part = "database"
        if part is not None:
            seconds[pid] = (part, (int(fields[11]) + int(fields[12])) / TICKS)
    return seconds


def children_seconds() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CPUSplit:
    """CPU seconds by group between :meth:`start` and :meth:`stop`.

    The load client must be a child of this process that ends before :meth:`stop`
    (wrk run by ``subprocess.run``), and no other child may end meanwhile.

    ``database`` names the postmasters of the servers whose processes are "database", by
    part: ``{"database": [pid]}`` for one server, ``{"coordinator": [pid], "worker_nodes":
    [pid, ...]}`` for a Citus cluster, which adds those parts beside "database"; None
    counts every PostgreSQL process on the machine.
    """

    def __init__(
        self, worker_pids: Iterable[int], database: dict[str, list[int]] | None = None
    ) -> None:
        self.worker_pids = list(worker_pids)
        self.database = database

    def snapshot(self) -> dict[str, float]:
        return {
            "machine": machine_busy(),
            "workers": sum(process_seconds(pid) for pid in self.worker_pids),
            "client": children_seconds(),
        }

    def start(self) -> None:
        self.started = self.snapshot()
        self.database_started = database_seconds(self.database)

    def stop(self) -> dict[str, float]:
        ended, database_ended = self.snapshot(), database_seconds(self.database)
        spent = {name: ended[name] - self.started[name] for name in ended}
        # A backend that started meanwhile spent all its time in the run; one that
        # ended meanwhile is lost to "rest".
        parts = dict.fromkeys(self.database or {}, 0.0)
        for pid, (part, seconds) in database_ended.items():
            before = self.database_started.get(pid, (part, 0.0))[1]
            parts[part] = parts.get(part, 0.0) + seconds - before
        spent["database"] = sum(parts.values())
        named = spent["workers"] + spent["database"] + spent["client"]
        split = {
            "workers": spent["workers"],
            "database": spent["database"],
            "client": spent["client"],
            "rest": max(0.0, spent["machine"] - named),
        }
        split.update({part: parts[part] for part in DATABASE_PARTS if part in parts})
        return split


def per_request_us(seconds: dict[str, float], requests: int) -> dict[str, float]:
    """``seconds`` by group (and part of the database, if split) as microseconds of CPU
    per request."""
    return {name: round(value / max(requests, 1) * 1e6) for name, value in seconds.items()}
