"""``python -m fastnn.benchmarks``: the side-by-side runner (see fastnn.benchmarks.runner)."""

from .runner import main

if __name__ == "__main__":
    main()
