"""How many CPUs this process may use: its affinity, capped by its cgroup's CPU quota.

os.cpu_count() and /proc/loadavg describe the whole machine. Under taskset, in a
container with a cpuset (`docker --cpuset-cpus`, Kubernetes' static CPU manager) or
under a CPU quota (`docker --cpus`, a Kubernetes CPU limit, systemd's CPUQuota) the
process may run on fewer CPUs, and threads beyond those only take turns on them.

The affinity already reflects a cpuset. A quota is read from the cgroup file system of
Linux: cgroup v2's ``cpu.max`` ("150000 100000": 1.5 CPUs of time; "max 100000": none)
and cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none), in the
process's own cgroup and in each folder above it (a parent's quota bounds its children
too); the smallest quota, rounded up to whole CPUs, counts. A file that is missing,
unreadable or malformed sets no limit: these functions never raise.

Every path is taken below `root` (the file system's root by default), so that tests can
point them at a folder of simulated cgroup files.
"""

import math
import os
import re

__all__ = ["affinity_cpus", "quota_cpus", "usable_cpus"]

# Where cgroup file systems are mounted when /proc/self/mountinfo does not say.
_V2_MOUNT = "/sys/fs/cgroup"
_V1_CPU_MOUNTS = ("/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu", "/sys/fs/cgroup/cpu")


def usable_cpus(root="/"):
    """The number of CPUs this process may use.

    ``min(affinity, ceil(quota / period))``: the CPUs the scheduler may run it on, and
    the CPU time its cgroups allow per period, in whole CPUs.

    Parameters
    ----------
    root : str or os.PathLike, default "/"
        The file system's root, under which /proc and /sys/fs/cgroup are read.

    Returns
    -------
    int
        At least 1, at most `affinity_cpus()`.
    """
    quota = quota_cpus(root)
    affinity = affinity_cpus()
    return affinity if quota is None else min(affinity, quota)


def affinity_cpus():
    """The number of CPUs the scheduler may run this process on.

    Returns
    -------
    int
        ``len(os.sched_getaffinity(0))`` where the platform has it (Linux), else
        ``os.cpu_count()``; at least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux (macOS, Windows)
        return os.cpu_count() or 1


def quota_cpus(root="/"):
    """The CPU time this process's cgroups allow, in whole CPUs, or None without a quota.

    The smallest ``quota / period`` over the process's cgroup and the folders above it,
    in cgroup v2 and in cgroup v1's cpu controller, rounded up.

    Parameters
    ----------
    root : str or os.PathLike, default "/"
        The file system's root, under which /proc/self/cgroup, /proc/self/mountinfo and
        the cgroup folders are read.

    Returns
    -------
    int or None
        At least 1; None where no quota is set or none can be read (not Linux, no
        cgroup file system, malformed files).
    """
    root = os.fspath(root)
    v2_path, v1_cpu_path = _own_cgroups(root)
    mounts = _cgroup_mounts(root)
    quotas = []
    if v2_path is not None:
        for mount_root, mount_point in mounts["v2"] or [("/", _V2_MOUNT)]:
            quotas += [_v2_quota(folder) for folder in _folders(root, mount_point, mount_root, v2_path)]
    if v1_cpu_path is not None:
        for mount_root, mount_point in mounts["v1"] or [("/", point) for point in _V1_CPU_MOUNTS]:
            quotas += [_v1_quota(folder) for folder in _folders(root, mount_point, mount_root, v1_cpu_path)]
    quotas = [quota for quota in quotas if quota is not None]
    return max(1, math.ceil(min(quotas))) if quotas else None


def _read(path):
    """The text of a file, or None: a missing or unreadable file sets no limit."""
    try:
        with open(path) as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def _below(root, path):
    """`path` (absolute, as the kernel names it) inside `root`, so that tests can move the file system."""
    return os.path.join(root, path.lstrip("/"))


def _own_cgroups(root):
    """(cgroup v2 path, v1 cpu controller path) of this process, from /proc/self/cgroup: where its quotas lie."""
    text = _read(_below(root, "/proc/self/cgroup")) or ""
    v2_path = v1_cpu_path = None
    for line in text.splitlines():
        fields = line.split(":", 2)  # hierarchy-ID:controllers:path (the path may hold colons)
        if len(fields) != 3 or not fields[2].startswith("/"):
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and controllers == "":
            v2_path = path
        elif "cpu" in controllers.split(","):
            v1_cpu_path = path
    return v2_path, v1_cpu_path


def _unescape(field):
    """A mountinfo field with the kernel's octal escapes (a space is \\040) undone."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), field)


def _cgroup_mounts(root):
    """{"v2": [(mount root, mount point)], "v1": [...]} of the cgroup2 and the v1 cpu mounts, from mountinfo.

    The mount root says which cgroup the mount point shows: in a container without a cgroup
    namespace, the container's own cgroup is mounted at /sys/fs/cgroup.
    """
    mounts = {"v2": [], "v1": []}
    for line in (_read(_below(root, "/proc/self/mountinfo")) or "").splitlines():
        # ID parent major:minor root mount-point options [optional fields...] - type source super-options
        before, separator, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not separator or len(fields) < 5 or len(tail) < 3:
            continue
        mount = (_unescape(fields[3]), _unescape(fields[4]))
        if tail[0] == "cgroup2":
            mounts["v2"].append(mount)
        elif tail[0] == "cgroup" and "cpu" in tail[2].split(","):
            mounts["v1"].append(mount)
    return mounts


def _folders(root, mount_point, mount_root, cgroup_path):
    """The process's cgroup folder under a mount, then each folder above it up to the mount point.

    A path outside the mount's root (a cgroup namespace's view) starts at the mount point,
    the closest folder visible.
    """
    mount_root = mount_root.rstrip("/")
    if mount_root and cgroup_path != mount_root and not cgroup_path.startswith(mount_root + "/"):
        relative = ""
    else:
        relative = cgroup_path[len(mount_root):].strip("/")
    parts = [part for part in relative.split("/") if part and part not in (".", "..")]
    top = _below(root, mount_point)
    return [os.path.join(top, *parts[:depth]) for depth in range(len(parts), -1, -1)]


def _v2_quota(folder):
    """A cgroup v2 folder's quota in CPUs, from cpu.max ("quota period"); None for "max" or an unusable file."""
    fields = (_read(os.path.join(folder, "cpu.max")) or "").split()
    if not fields or fields[0] == "max" or len(fields) != 2:
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(folder):
    """A cgroup v1 cpu folder's quota in CPUs, cfs_quota_us / cfs_period_us; None for -1 or unusable files."""
    quota = _read(os.path.join(folder, "cpu.cfs_quota_us"))
    period = _read(os.path.join(folder, "cpu.cfs_period_us"))
    if quota is None or period is None:
        return None
    return _ratio(quota.strip(), period.strip())


def _ratio(quota, period):
    """quota / period for two positive integers given as text, else None (v1's -1 means no quota)."""
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None
