"""Process figures from /proc for the benchmark drivers (bench/pipeline.py,
bench/policy.py): pid files, memory fields, CPU seconds."""
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def proc_status(pid, field):
    """A field of /proc/<pid>/status in kB (VmHWM, VmRSS), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu(pid):
    """utime + stime of pid in seconds (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def tree_cpu(root):
    """CPU seconds per pid of root and its children (Postgres: postmaster + backends)."""
    out = {}
    for p in [root] + children(root):
        c = proc_cpu(p)
        if c is not None:
            out[p] = c
    return out
