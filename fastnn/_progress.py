"""Progress bars: tqdm's when it is installed, else a plain one-line bar of fastnn's own.

Both draw on stderr, so stdout keeps only results, and both print lines through the bar
(`write`) so that the lines and the bar never collide.
"""

import sys
import time


def progress_bar(total, unit="row", desc=None):
    """A bar over `total` units: tqdm's if installed, else `TextBar`. It disappears when closed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return TextBar(total, unit, desc)
    return tqdm(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)


class TextBar:
    """The fallback bar: "desc  42% 25,200/60,000 rows", redrawn in place at most 10 times a second.

    It draws only on a terminal; elsewhere (a log file, CI) it keeps quiet and only
    `write` prints.
    """

    def __init__(self, total, unit="row", desc=None, stream=None):
        self.total, self.unit, self.desc, self.n = total, unit, desc, 0
        self.stream = stream or sys.stderr
        self._live = self.stream.isatty()
        self._drawn_at = 0.0
        self._width = 0

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self._drawn_at >= 0.1 or self.n >= self.total:
            self._drawn_at = now
            self._draw()

    def reset(self, total=None):
        self.n = 0
        if total is not None:
            self.total = total

    def set_description(self, desc):
        self.desc = desc

    def write(self, line):
        self._clear()
        print(line, flush=True)
        self._draw()

    def close(self):
        self._clear()

    def _draw(self):
        if not self._live:
            return
        share = self.n / self.total if self.total else 1.0
        text = f"{self.desc + '  ' if self.desc else ''}{share:4.0%} {self.n:,}/{self.total:,} {self.unit}s"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def _clear(self):
        if self._live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
