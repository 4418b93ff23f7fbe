"""One guard around every call into the user's code (a ``--model`` build, its forward pass,
its loss, its backward pass), and the one loader of a user's callable named
``pkg.module:fn`` or ``path/file.py:fn`` (:func:`import_callable`).

Whatever the user's code does to leave, the guard turns it into one exception that names
the callable: an ``Exception``, ``sys.exit(...)`` (``SystemExit``), ``os._exit(...)`` (which
would end this rank at once, without a message, with the others waiting in a collective:
inside the guard it raises instead), and any other ``BaseException`` but
``KeyboardInterrupt`` and :class:`~crpsgd.errors.Terminated` (a signal, handled by
:mod:`crpsgd.comm.lifecycle`). Before the rounds (``stage="setup"``) it becomes a
:class:`~crpsgd.errors.UsageError`, which every rank agrees on (exit status 2); during the
rounds a :class:`~crpsgd.errors.UserCodeError`, which ends the whole job (exit status 1).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crpsgd.errors import Terminated, UsageError, UserCodeError


class _ProcessExit(BaseException):  # noqa: N818  (stands for os._exit, not an error class)
    """Raised by ``os._exit`` while the guard is active."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(status)


def _raise_exit(status: int = 0) -> None:
    raise _ProcessExit(status)


def describe(exc: BaseException) -> str:
    """What the user's code did, in a few words: ``called sys.exit(0)``, ``called
    os._exit(0)`` or ``<Type>: <first line of the message>``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, _ProcessExit):
        return f"called os._exit({exc.status!r})"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@contextmanager
def user_code(what: str, stage: str = "setup") -> Iterator[None]:
    """Run the body as user code named ``what`` (e.g. ``--model=m:build: build()``).

    ``stage`` is ``"setup"`` (a failure is a :class:`UsageError`: exit status 2) or
    ``"rounds"`` (a :class:`UserCodeError`: exit status 1). A :class:`UsageError` raised
    inside passes unchanged (it names its argument already)."""
    saved = os._exit
    os._exit = _raise_exit
    try:
        yield
    except (KeyboardInterrupt, Terminated, UsageError, UserCodeError):
        raise
    except BaseException as exc:
        error = UsageError if stage == "setup" else UserCodeError
        raise error(f"{what}: {describe(exc)}") from None
    finally:
        os._exit = saved


_SPEC = re.compile(r"^(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|.+\.py):[A-Za-z_]\w*$")


def is_spec(value: str) -> bool:
    """Whether ``value`` has the form ``pkg.module:fn`` or ``path/file.py:fn``."""
    return bool(_SPEC.match(value))


def is_file_spec(spec: str) -> bool:
    """Whether ``spec`` names a callable of a Python file (``path/file.py:fn``)."""
    return spec.rpartition(":")[0].endswith(".py")


def import_callable(spec: str) -> Callable[..., Any]:
    """The callable ``fn`` of ``pkg.module:fn`` (imported from ``sys.path``) or of
    ``path/file.py:fn`` (the file executed as a module named after its stem).

    Raises ``ValueError`` (no ``:``), ``FileNotFoundError``, ``ImportError``, the file's
    own exception, or ``AttributeError`` (no such callable): the caller runs it inside
    :func:`user_code`, whose one message names the flag or argument."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"expected 'pkg.module:fn' or 'path/file.py:fn', not {spec!r}")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise FileNotFoundError(f"no file {where}")
        found = importlib.util.spec_from_file_location(path.stem, path)
        if found is None or found.loader is None:
            raise ImportError(f"{where} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(found)
        found.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise AttributeError(f"{where} has no callable {attr!r}")
    return fn
