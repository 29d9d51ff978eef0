"""Whether a person is watching: progress bars by default in a terminal or a notebook."""

from __future__ import annotations

import os
import sys

__all__ = ["resolve_progressbar", "watched"]


def watched() -> bool:
    """Whether output goes to a person: a Jupyter kernel or a terminal, not tests or CI.

    ``CI`` (set by GitHub Actions, GitLab, most CI services) and pytest's
    ``PYTEST_CURRENT_TEST`` turn progress bars off, as does output that is not a terminal
    (a log file, a pipe).
    """
    if os.environ.get("CI") or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    shell = sys.modules.get("IPython")
    if shell is not None:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
        if ip is not None and "IPKernelApp" in getattr(ip, "config", {}):
            return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def resolve_progressbar(progressbar: bool | None) -> bool:
    """``progressbar`` as given, or :func:`watched` when it is ``None``."""
    return watched() if progressbar is None else bool(progressbar)
