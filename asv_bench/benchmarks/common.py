"""What the benchmarks share: fastnn's contenders table and seeded inputs, and version-tolerant imports.

The table and the inputs are this checkout's ``fastnn/benchmarks/contenders.py`` and
``inputs.py``, loaded as files, while the code they time is the fastnn installed in
asv's environment, which is an older commit's when asv benchmarks history. So every
commit is timed with today's table, and the benchmarks import even where the installed
fastnn has no `fastnn.benchmarks`. A contender whose fastnn API is missing at a commit
raises NotImplementedError in setup, which asv reports as skipped.
"""

import importlib.util
import pathlib
import sys
import types

_SOURCE = pathlib.Path(__file__).resolve().parents[2] / "fastnn" / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_fastnn_benchmarks_{name}", _SOURCE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


contenders = _load("contenders")
inputs = _load("inputs")
CONTENDERS = contenders.CONTENDERS


def _missing_from_fastnn(error):
    """Whether an ImportError or AttributeError says that fastnn lacks a module or a name."""
    if isinstance(error, ImportError):
        return (error.name or "").startswith("fastnn")
    owner = getattr(error, "obj", None)
    return isinstance(owner, types.ModuleType) and owner.__name__.startswith("fastnn")


def prepare(task, name, *task_inputs):
    """A contender's function, called once so that compilation and warm-up stay out of the timing.

    Raises NotImplementedError (asv: skipped) when the contender's library is not
    installed or the installed fastnn lacks what it calls.
    """
    contender = CONTENDERS[task][name]
    reason = contender.missing()
    if reason is not None:
        raise NotImplementedError(reason)
    try:
        run = contender.make(*task_inputs)
        run()
    except (ImportError, AttributeError) as error:
        if not _missing_from_fastnn(error):
            raise
        raise NotImplementedError(f"the installed fastnn cannot run {task} contender {name!r}: {error}") from error
    return run


def require(module, *names):
    """Import names from a fastnn module, or raise NotImplementedError (asv skips) on older commits."""
    try:
        imported = __import__(module, fromlist=list(names))
        return [getattr(imported, name) for name in names]
    except (ImportError, AttributeError) as error:
        raise NotImplementedError(f"{module} lacks {names} at this commit: {error}") from error
