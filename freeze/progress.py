"""A progress display for long scans: rich on a TTY, nothing otherwise.

Collectors call `progress(files_done, bytes_done)`; they never print themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def scan_progress(label: str, enabled: bool | None = None
                  ) -> Iterator[Callable[[int, int], None] | None]:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                  TextColumn("{task.fields[files]} entries, {task.fields[mb]} MB"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=None, files=0, mb=0)

        def update(files: int, nbytes: int) -> None:
            bar.update(task, files=files, mb=nbytes // 1_000_000)

        yield update
