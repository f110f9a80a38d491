"""The documentation's examples run as written: every ```python block of README.md and docs/guide.md.

Each block runs as a script in a fresh process, in an empty directory, and must exit 0
having printed something. The dask example of docs/guide.md has its own test
(tests/test_scaleout.py), which also checks what it prints.
"""

import re
from pathlib import Path

import pytest

from helpers import run_python

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
