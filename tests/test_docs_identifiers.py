"""Every code identifier the docs name exists: a renamed or removed function leaves no stale text.

Checked in README.md, docs/*.md and the docstrings of fastnn's modules, for what is quoted
in backticks: dotted names of fastnn (`fastnn.training.Monitor`, `compile.by_code`, where
the first part is one of fastnn's modules), private names (`_block_pass`: defined
somewhere in the package) and paths of the repository (`fastnn/_kernels/blas.py`).
Names of other libraries are not checked.
"""

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import fastnn

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastnn"
QUOTED = re.compile(r"`([^`\n]+)`")
NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\(\))?")
PATH = re.compile(r"(?:fastnn|tests|asv_bench|docs|\.ci)/[\w/.-]*")
# Private names of other libraries that the docs discuss.
EXTERNAL = {"_loss_grad_lbfgs"}  # scikit-learn's MLP (docs/guide.md)


def _modules():
    """fastnn's modules by their full and their last name (`fastnn._kernels.compile` and `compile`)."""
    names = {"fastnn": "fastnn"}
    for info in pkgutil.walk_packages(fastnn.__path__, "fastnn."):
        names[info.name] = info.name
        names.setdefault(info.name.rsplit(".", 1)[1], info.name)
    return names


MODULES = _modules()
SOURCES = "\n".join(path.read_text(encoding="utf-8") for path in sorted(PACKAGE.rglob("*.py")))
DEFINED = set(re.findall(r"^\s*(?:def|class)\s+(\w+)|^\s*(\w+)\s*[:=]", SOURCES, re.M)) | set(
    re.findall(r"(?:def|class)\s+(\w+)", SOURCES))
DEFINED = {name for pair in DEFINED for name in (pair if isinstance(pair, tuple) else (pair,)) if name}


def _texts():
    """(where, text) of every document and module docstring."""
    texts = [(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]]
    for path in sorted(PACKAGE.rglob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if docstring:
            texts.append((path.relative_to(ROOT).as_posix(), docstring))
    return texts


def _resolves(dotted):
    """Whether a dotted name of fastnn (first part: a module of fastnn) names something that exists."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        if module_name in MODULES:
            module = importlib.import_module(MODULES[module_name])
            target = module
            for attribute in parts[cut:]:
                target = getattr(target, attribute, None)
                if target is None:
                    # A name defined inside a function (a closure kernel) is a definition in the source.
                    return attribute in DEFINED
            return True
    return None  # not fastnn's


def _stale(text):
    stale = []
    for quoted in QUOTED.findall(text):
        if PATH.fullmatch(quoted):
            if not (ROOT / quoted).exists():
                stale.append(quoted)
            continue
        if not NAME.fullmatch(quoted):
            continue
        name = quoted.removesuffix("()")
        if name.endswith(".py"):  # a module's file, named alone: somewhere in the package
            if not any(PACKAGE.rglob(name)):
                stale.append(quoted)
        elif "." in name:
            if _resolves(name) is False:
                stale.append(quoted)
        elif name.startswith("_") and not name.startswith("__") and name not in DEFINED | EXTERNAL:
            stale.append(quoted)
    return stale


@pytest.mark.parametrize("where, text", [pytest.param(where, text, id=where) for where, text in _texts()])
def test_every_identifier_the_docs_name_exists(where, text):
    assert not _stale(text), f"{where} names what does not exist: {_stale(text)}"


def test_the_check_finds_a_stale_name():
    assert _stale("the kernel `_cost_grad_driver` and `fastnn.training.NoSuchThing` in `fastnn/nowhere.py`") == [
        "_cost_grad_driver", "fastnn.training.NoSuchThing", "fastnn/nowhere.py"]
    assert _stale("`_block_pass`, `fastnn.training.Monitor`, `compile.dispatch`, `np.dot`, `fastnn/_kernels/blas.py`, "
                  "`block.py`") == []
    assert _stale("`nowhere.py`") == ["nowhere.py"]
