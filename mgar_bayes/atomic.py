"""Atomic file output: write to a temporary file beside the target, then rename.

Every file a run writes (tables, JSON, figures, netCDF) goes through
:func:`atomic_path`, so an interrupted or failed write never leaves a partial
file under the final name: the target holds either its old content or the new.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "write_frame"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary file lives in the target's directory (a rename across file
    systems is not atomic) and ends with the target's name, so writers that
    infer a format or compression from the suffix (``.csv.gz``, ``.png``) work.
    On an exception (a ``KeyboardInterrupt`` included) it is removed and
    ``path`` is left untouched.

    Parameters
    ----------
    path : str or path-like
        Final file. Missing parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".part.{path.name}")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600): give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_frame(table, path: str | os.PathLike) -> Path:
    """Write a DataFrame as Parquet (``.parquet``, ``.pq``) or else CSV, no index, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix in (".parquet", ".pq"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    return path
