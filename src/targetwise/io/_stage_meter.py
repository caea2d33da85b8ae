"""Measuring one stage's cost: wall and CPU time, peak resident memory (see :class:`targetwise.io.runs.StageCost`)."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

PeakRssMethod = Literal["vmhwm", "sampled", "ru_maxrss"]


@dataclass
class StageCost:
    """What one stage cost, as the manifest's ``cost`` object of the stage records it.

    - ``wall_s``: wall-clock seconds of the stage (the same figure as the record's ``seconds``).
    - ``cpu_s``: CPU seconds this process used during the stage, every thread (user + system,
      ``time.process_time``), plus the CPU of child processes that ended during it.
    - ``peak_rss_gb``: the largest resident memory of this process during the stage, in GB (10^9 bytes);
      ``peak_rss_method`` says how it was measured:

      - ``vmhwm``: exact; the process's high-water mark (``VmHWM``, /proc/self/status) rose during the
        stage, so the stage set the process's peak and ``VmHWM`` at its end is that peak.
      - ``sampled``: the mark did not rise (an earlier stage held more), so the peak is the largest of
        ``/proc/self/statm`` samples every :data:`RSS_SAMPLE_SECONDS` and the resident size at both ends:
        a lower bound that can miss a spike shorter than the interval.
      - ``ru_maxrss``: no /proc (not Linux): the process's peak since it started (``getrusage``), an
        upper bound on the stage's.

      The high-water mark is read, never reset (``/proc/self/clear_refs``): a reset would also lower the
      process's ``ru_maxrss``, so ``/usr/bin/time`` or a parent's ``getrusage(RUSAGE_CHILDREN)`` (as in
      ``benchmarks/run_scale.py``) would report only the last stage's peak instead of the whole run's.
    - ``rows_in``: the rows the stage's input covered, as the stage reported them with
      :meth:`StageRecord.rows_in` (None when it did not).
    - ``rows_out``: the rows of the tables the stage published through :meth:`RunWriter.write_table`
      (a table written twice counts once, with its last rows; a failed stage publishes nothing: 0).
    """

    wall_s: float
    cpu_s: float
    peak_rss_gb: float | None = None
    peak_rss_method: PeakRssMethod | None = None
    rows_in: int | None = None
    rows_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "peak_rss_gb": self.peak_rss_gb,
            "peak_rss_method": self.peak_rss_method,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StageCost:
        return cls(
            wall_s=float(raw.get("wall_s", 0.0)),
            cpu_s=float(raw.get("cpu_s", 0.0)),
            peak_rss_gb=raw.get("peak_rss_gb"),
            peak_rss_method=raw.get("peak_rss_method"),
            rows_in=raw.get("rows_in"),
            rows_out=int(raw.get("rows_out", 0)),
        )


#: seconds between two resident-size samples while a stage runs (``peak_rss_method`` "sampled")
RSS_SAMPLE_SECONDS = 0.02

_GB = 1e9


def _proc_kb(field_name: str) -> int | None:
    """A ``kB`` figure of /proc/self/status (``VmHWM``, ``VmRSS``) in bytes; None where there is no /proc."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(field_name.encode() + b":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class _RssSampler(threading.Thread):
    """Reads the resident size from /proc/self/statm every ``interval`` seconds and keeps the largest."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="targetwise-rss-sampler", daemon=True)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        self.sample()

    def sample(self) -> None:
        try:
            resident = int(os.pread(self._fd, 128, 0).split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return
        self.peak = max(self.peak, resident)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def halt(self) -> int:
        self._halt.set()
        if self.is_alive():
            self.join()
        self.sample()
        os.close(self._fd)
        return self.peak


class _CostMeter:
    """Measures wall time, CPU time and peak resident memory from its creation to :meth:`stop`."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._children = _children_cpu()
        self._hwm = _proc_kb("VmHWM")
        self._sampler: _RssSampler | None = None
        try:
            sampler = _RssSampler(RSS_SAMPLE_SECONDS)
        except OSError:  # no /proc/self/statm
            return
        sampler.start()
        self._sampler = sampler

    def stop(self, *, rows_in: int | None, rows_out: int) -> StageCost:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu + _children_cpu() - self._children
        sampled = self._sampler.halt() if self._sampler is not None else None
        hwm = _proc_kb("VmHWM")
        peak: float | None
        method: PeakRssMethod | None
        if hwm is not None and self._hwm is not None and hwm > self._hwm:
            peak, method = hwm, "vmhwm"
        elif sampled is not None:
            peak, method = sampled, "sampled"
        else:
            peak, method = _ru_maxrss(), "ru_maxrss"
            if peak is None:
                method = None
        return StageCost(
            wall_s=round(wall, 3),
            cpu_s=round(max(cpu, 0.0), 3),
            peak_rss_gb=None if peak is None else round(peak / _GB, 4),
            peak_rss_method=method,
            rows_in=rows_in,
            rows_out=int(rows_out),
        )


def _children_cpu() -> float:
    """CPU seconds (user + system) of the child processes that ended and were waited for."""
    times = os.times()
    return times.children_user + times.children_system


def _ru_maxrss() -> float | None:
    """This process's peak resident size since it started, in bytes (kB on Linux, bytes on macOS)."""
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):
        return None
    return float(peak if sys.platform == "darwin" else peak * 1024)


