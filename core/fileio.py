"""Atomic file writing: write to a temporary file beside the target, then rename over it.

A crash, an exception or Ctrl-C while writing never leaves a half-written file under the final
name; the temporary file is removed on failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_path_for(target: str | os.PathLike[str], suffix: str | None = None) -> Path:
    """Create an empty hidden temporary file beside ``target`` and return its path.

    The file gets the permissions a plain ``open()`` would give (``mkstemp`` makes it
    owner-only), so renaming it over ``target`` yields an ordinary file.

    Raises:
        OSError: when the folder is not writable.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=(target.suffix if suffix is None else suffix) + ".part",
        dir=target.parent,
    )
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``.

    Args:
        target: the final file name.
        suffix: suffix of the temporary file (defaults to the target's, so that libraries that
            pick a format from the extension still do so).

    Raises:
        OSError: when the folder is not writable (raised before anything is written).
    """
    tmp_path = temp_path_for(target, suffix)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
