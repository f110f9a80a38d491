"""The documentation's examples run as written: every ```python block of README.md and docs/guide.md.

Each block runs as a script in a fresh process, in an empty directory, and must exit 0
having printed something. The dask example of docs/guide.md has its own test
(tests/test_scaleout.py), which also checks what it prints.
"""

import re
from pathlib import Path

import pytest

from helpers import JIT_DISABLED, run_python

ROOT = Path(__file__).resolve().parents[1]
DASK_MARKER = "<!-- dask-example -->"
# A fenced block of Python, and whether the dask marker stands right before it.
PYTHON_BLOCK = re.compile(r"(<!-- dask-example -->\s*)?^```python\n(.*?)^```", re.S | re.M)


def python_blocks(relative_path):
    """The ```python blocks of one file, in order, without the dask example."""
    text = (ROOT / relative_path).read_text(encoding="utf-8")
    return [match.group(2) for match in PYTHON_BLOCK.finditer(text) if not match.group(1)]


def block_params(relative_path, marks=()):
    blocks = python_blocks(relative_path)
    assert blocks, f"{relative_path} has no ```python block"
    return [pytest.param(code, id=f"{relative_path}:{index + 1}", marks=marks) for index, code in enumerate(blocks)]


# The README's blocks take a few seconds each (the digits, the kernels cached); the guide's
# train several models, so they run in the slow tier.
@pytest.mark.parametrize("code", [*block_params("README.md"), *block_params("docs/guide.md", pytest.mark.slow)])
def test_the_example_runs_as_written(code, tmp_path):
    if "MLPClassifier" in code or "sklearn" in code:
        pytest.importorskip("sklearn")
    run = run_python("-c", code, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip(), "the example printed nothing"


def test_the_readme_has_its_three_examples():
    blocks = python_blocks("README.md")
    assert len(blocks) == 3
    assert "cost_grad" in blocks[0] and "NetClassifier" in blocks[1] and "MLPClassifier" in blocks[2]


def test_the_guide_keeps_the_dask_example_apart():
    text = (ROOT / "docs/guide.md").read_text(encoding="utf-8")
    assert text.count(DASK_MARKER) == 1
    assert not any("dask" in code for code in python_blocks("docs/guide.md"))


def test_no_install_hint_names_the_other_project():
    # "fastnn" on PyPI is another project: every hint installs from the clone.
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        hints = re.findall(r"pip install fastnn\S*", path.read_text(encoding="utf-8"))
        assert not hints, f"{path.name}: {hints}"


def test_the_readme_says_where_fastnn_stops():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    limits = text.split("## Limits, and when to use something else", 1)[1].split("\n## ", 1)[0]
    for point in ("GPU", "convolution", "dropout", "custom layers", "classifiers only", "PyTorch or Keras"):
        assert point in limits


# An issue number of fastnn's own tracker: development history, which the git log keeps.
# Upstream projects' issues ("numba issue 4807", "scikit-learn issue 18507") are references.
OWN_ISSUE = re.compile(r"(?<!numba )(?<!numba issues )(?<!scikit-learn )\bissues? \d+", re.I)


def test_the_docs_carry_no_development_history():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found = OWN_ISSUE.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: {found}"


def test_every_option_in_the_readme_exists():
    """The command line's tables name options the commands take (a renamed option would leave the docs wrong)."""
    from fastnn import cli

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    commands = cli.parser()._subparsers._group_actions[0].choices
    known = {option for sub in commands.values() for action in sub._actions for option in action.option_strings}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", section))
    assert named and named <= known | {"--version", "--help"}, sorted(named - known)


@pytest.mark.skipif(JIT_DISABLED, reason="with NUMBA_DISABLE_JIT=1 nothing is compiled, so there is no cache folder")
def test_the_cache_folder_is_where_the_docs_say():
    """README and guide name fastnn/_kernels/__pycache__ for a writable install (or NUMBA_CACHE_DIR)."""
    import os

    from fastnn._kernels import compile

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "fastnn/_kernels/__pycache__" in readme and "~/.cache/numba" in readme
    wanted = os.environ.get("NUMBA_CACHE_DIR") or str(ROOT / "fastnn" / "_kernels" / "__pycache__")
    assert compile.cache_folder is not None and compile.cache_folder.startswith(wanted)
