"""``python -m fastnn``: the command line (see fastnn.cli)."""

from .cli import main

if __name__ == "__main__":
    main()
