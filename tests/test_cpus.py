"""The CPUs a process may use: its affinity, capped by a cgroup v2 or v1 CPU quota (simulated files)."""

import os

import pytest

from fastnn import _cpus

V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate"
V1_CPU_MOUNT = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct"
V1_MEMORY_MOUNT = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory"


def fake_root(tmp_path, cgroup, mountinfo=None, files=()):
    """A file system root holding /proc/self/cgroup, /proc/self/mountinfo (unless None) and `files`
    ({absolute path: text or bytes}); returns it for `root=`."""
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text("\n".join(cgroup) + "\n")
    if mountinfo is not None:
        (proc / "mountinfo").write_text("\n".join(mountinfo) + "\n")
    for path, contents in dict(files).items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.write_bytes if isinstance(contents, bytes) else target.write_text)(contents)
    return tmp_path


def v2_root(tmp_path, files, path="/system.slice/job.service", mountinfo=(V2_MOUNT,)):
    """A cgroup v2 machine with the process in `path`; `files` relative to /sys/fs/cgroup."""
    files = {f"/sys/fs/cgroup/{name}": text for name, text in files.items()}
    return fake_root(tmp_path, [f"0::{path}"], mountinfo, files)


# ---------------------------------------------------------------- cgroup v2


@pytest.mark.parametrize("cpu_max, expected", [
    ("150000 100000\n", 2), ("100000 100000\n", 1), ("400000 100000\n", 4), ("1000 100000\n", 1),
    ("max 100000\n", None),
], ids=["1.5-cpus", "1-cpu", "4-cpus", "a-hundredth", "max"])
def test_v2_cpu_max_rounds_the_quota_up(tmp_path, cpu_max, expected):
    root = v2_root(tmp_path, {"system.slice/job.service/cpu.max": cpu_max})
    assert _cpus.quota_cpus(root) == expected


def test_v2_a_smaller_quota_in_a_parent_folder_wins(tmp_path):
    root = v2_root(tmp_path, {
        "system.slice/job.service/cpu.max": "400000 100000\n",
        "system.slice/cpu.max": "150000 100000\n",  # the parent's bounds its children
    })
    assert _cpus.quota_cpus(root) == 2


def test_v2_a_parent_quota_counts_when_the_own_folder_has_none(tmp_path):
    root = v2_root(tmp_path, {"system.slice/job.service/cpu.max": "max 100000\n",
                              "system.slice/cpu.max": "300000 100000\n"})
    assert _cpus.quota_cpus(root) == 3


def test_v2_a_smaller_quota_in_the_own_folder_wins(tmp_path):
    root = v2_root(tmp_path, {"system.slice/job.service/cpu.max": "100000 100000\n",
                              "system.slice/cpu.max": "300000 100000\n"})
    assert _cpus.quota_cpus(root) == 1


@pytest.mark.parametrize("cpu_max", [
    "", "\n", "garbage\n", "150000\n", "-5 100000\n", "0 100000\n", "150000 0\n", "150000 -1\n", "1.5 1\n",
    "150000 100000 7\n", "max\n", b"\xff\xfe 100000", None,
], ids=["empty", "newline", "garbage", "one-field", "negative", "zero", "zero-period", "negative-period", "float",
        "three-fields", "max-alone", "not-utf8", "a-folder"])
def test_v2_malformed_cpu_max_sets_no_limit(tmp_path, cpu_max):
    folder = "system.slice/job.service/cpu.max"
    root = v2_root(tmp_path, {} if cpu_max is None else {folder: cpu_max})
    if cpu_max is None:
        (tmp_path / "sys/fs/cgroup" / folder).mkdir(parents=True)  # opening it raises IsADirectoryError
    assert _cpus.quota_cpus(root) is None
    assert _cpus.usable_cpus(root) == _cpus.affinity_cpus()


def test_v2_mounted_where_mountinfo_says(tmp_path):
    """Hybrid systems mount cgroup2 at /sys/fs/cgroup/unified; a mount point may hold a space (\\040)."""
    mount = "41 31 0:38 / /sys/fs/cgroup/my\\040unified rw,relatime - cgroup2 cgroup2 rw"
    root = fake_root(tmp_path, ["0::/job"], [mount], {"/sys/fs/cgroup/my unified/job/cpu.max": "200000 100000\n"})
    assert _cpus.quota_cpus(root) == 2


def test_v2_without_mountinfo_looks_in_sys_fs_cgroup(tmp_path):
    root = v2_root(tmp_path, {"job/cpu.max": "250000 100000\n"}, path="/job", mountinfo=None)
    assert _cpus.quota_cpus(root) == 3


def test_v2_in_a_cgroup_namespace_the_root_folder_is_the_containers(tmp_path):
    """Inside a container with its own cgroup namespace the process sits at "/" of the mount."""
    root = v2_root(tmp_path, {"cpu.max": "150000 100000\n"}, path="/")
    assert _cpus.quota_cpus(root) == 2


# ---------------------------------------------------------------- cgroup v1


def v1_root(tmp_path, quota, period="100000\n", path="/docker/abc", mount=V1_CPU_MOUNT, folder=None):
    """A cgroup v1 machine (with the empty v2 hierarchy of a hybrid one) and the process's cpu folder."""
    folder = folder or f"/sys/fs/cgroup/cpu,cpuacct{path}"
    files = {f"{folder}/cpu.cfs_period_us": period}
    if quota is not None:
        files[f"{folder}/cpu.cfs_quota_us"] = quota
    return fake_root(tmp_path, ["12:memory:/docker/abc", f"4:cpu,cpuacct:{path}", "2:cpuset:/docker/abc", "0::/"],
                     [V1_MEMORY_MOUNT, V1_CPU_MOUNT if mount is None else mount], files)


@pytest.mark.parametrize("quota, expected", [("-1\n", None), ("50000\n", 1), ("100000\n", 1), ("250000\n", 3),
                                             (None, None), ("lots\n", None), ("\n", None)],
                         ids=["unlimited", "half", "one", "2.5", "no-quota-file", "garbage", "empty"])
def test_v1_cfs_quota_over_period_rounded_up(tmp_path, quota, expected):
    assert _cpus.quota_cpus(v1_root(tmp_path, quota)) == expected


def test_v1_a_malformed_period_sets_no_limit(tmp_path):
    assert _cpus.quota_cpus(v1_root(tmp_path, "50000\n", period="0\n")) is None


def test_v1_a_parent_folder_with_a_smaller_quota_wins(tmp_path):
    root = v1_root(tmp_path, "400000\n")
    (tmp_path / "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us").write_text("100000\n")
    assert _cpus.quota_cpus(root) == 2


def test_v1_a_container_sees_its_own_cgroup_at_the_mount_point(tmp_path):
    """Without a cgroup namespace /proc/self/cgroup names the host's path; mountinfo's root: the mount shows it."""
    mount = "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct"
    root = v1_root(tmp_path, "50000\n", mount=mount, folder="/sys/fs/cgroup/cpu,cpuacct")
    assert _cpus.quota_cpus(root) == 1


def test_v1_without_mountinfo_looks_in_the_usual_mounts(tmp_path):
    root = fake_root(tmp_path, ["3:cpuacct,cpu:/batch"], None, {
        "/sys/fs/cgroup/cpu/batch/cpu.cfs_quota_us": "300000\n",
        "/sys/fs/cgroup/cpu/batch/cpu.cfs_period_us": "100000\n"})
    assert _cpus.quota_cpus(root) == 3


def test_v1_controllers_named_like_cpu_are_not_the_cpu_controller(tmp_path):
    root = fake_root(tmp_path, ["2:cpuset:/pinned", "3:cpuacct:/pinned"], [V1_CPU_MOUNT], {
        "/sys/fs/cgroup/cpu,cpuacct/pinned/cpu.cfs_quota_us": "50000\n",
        "/sys/fs/cgroup/cpu,cpuacct/pinned/cpu.cfs_period_us": "100000\n"})
    assert _cpus.quota_cpus(root) is None


def test_the_smaller_of_a_v1_and_a_v2_quota_wins(tmp_path):
    root = fake_root(tmp_path, ["4:cpu,cpuacct:/job", "0::/job"], [V2_MOUNT, V1_CPU_MOUNT], {
        "/sys/fs/cgroup/job/cpu.max": "300000 100000\n",
        "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "150000\n",
        "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"})
    assert _cpus.quota_cpus(root) == 2


# ---------------------------------------------------------------- nothing to read, affinity, the real machine


@pytest.mark.parametrize("cgroup", [None, ["garbage", "1:cpu", "::", "0::relative/path"]], ids=["no-proc", "malformed"])
def test_no_cgroup_information_sets_no_limit(tmp_path, cgroup):
    root = tmp_path if cgroup is None else fake_root(tmp_path, cgroup, ["not a mountinfo line", " - "])
    assert _cpus.quota_cpus(root) is None
    assert _cpus.usable_cpus(root) == _cpus.affinity_cpus()


def test_a_quota_below_the_affinity_is_the_answer(tmp_path):
    root = v2_root(tmp_path, {"system.slice/job.service/cpu.max": "50000 100000\n"})
    assert _cpus.usable_cpus(root) == 1


def test_a_quota_above_the_affinity_leaves_the_affinity(tmp_path):
    root = v2_root(tmp_path, {"system.slice/job.service/cpu.max": f"{100000 * (_cpus.affinity_cpus() + 3)} 100000\n"})
    assert _cpus.usable_cpus(root) == _cpus.affinity_cpus()


def test_without_sched_getaffinity_the_machines_count_counts(monkeypatch):
    monkeypatch.delattr(_cpus.os, "sched_getaffinity", raising=False)
    assert _cpus.affinity_cpus() == (os.cpu_count() or 1)


def test_the_real_machines_answer_is_between_one_and_its_cpu_count():
    assert 1 <= _cpus.usable_cpus() <= os.cpu_count()
    assert 1 <= _cpus.affinity_cpus() <= os.cpu_count()
    assert _cpus.quota_cpus() is None or _cpus.quota_cpus() >= 1
