"""Progress reporting: a tqdm bar on a terminal, periodic plain log lines otherwise (CI, files)."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class _LogLines:
    """tqdm-like counter that prints `desc: n/total (pct) rate it/s ETA` every `interval` seconds."""

    def __init__(self, total: int | None, desc: str, interval: float, unit: str):
        self.total, self.desc, self.interval, self.unit = total, desc, interval, unit
        self.n, self.initial, self.start, self.last = 0, 0, time.perf_counter(), time.perf_counter()
        self.postfix = ""

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            self._print(now)

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        self.postfix = s

    def _print(self, now: float) -> None:
        rate = (self.n - self.initial) / max(now - self.start, 1e-9)  # a resumed run counts only new work
        line = f"{self.desc}: {self.n}"
        if self.total:
            eta = (self.total - self.n) / max(rate, 1e-9)
            line += (f"/{self.total} ({100 * self.n / self.total:.0f}%) "
                     f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")
        line += f" {rate:.1f} {self.unit}/s"
        if self.postfix:
            line += f" {self.postfix}"
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        self._print(time.perf_counter())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total: int | None = None, desc: str = "", unit: str = "it", interval: float = 30.0, initial: int = 0):
    """A progress counter with `.update(k)`, `.set_postfix_str(s)` and `.close()`."""
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, smoothing=0.05)
    bar = _LogLines(total, desc, interval, unit)
    bar.n = bar.initial = initial
    return bar

