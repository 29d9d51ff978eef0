"""Progress bars by default only when a person is watching."""

import io

import pytest

from bayesmm.progress import resolve_progressbar, watched


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def outside_pytest(monkeypatch):
    # pytest sets PYTEST_CURRENT_TEST again for the call phase: tests remove it themselves
    monkeypatch.delenv("CI", raising=False)
    return monkeypatch


def test_a_terminal_is_watched_unless_ci_or_pytest(outside_pytest):
    outside_pytest.delenv("PYTEST_CURRENT_TEST")
    outside_pytest.setattr("sys.stderr", _Terminal())
    assert watched() and resolve_progressbar(None)
    outside_pytest.setenv("CI", "true")
    assert not watched() and not resolve_progressbar(None)
    outside_pytest.delenv("CI")
    outside_pytest.setenv("PYTEST_CURRENT_TEST", "tests/x.py::t (call)")
    assert not watched()


def test_a_pipe_or_log_file_is_not_watched(outside_pytest):
    outside_pytest.delenv("PYTEST_CURRENT_TEST")
    outside_pytest.setattr("sys.stderr", io.StringIO())
    assert not watched()
    assert resolve_progressbar(True) and not resolve_progressbar(False)
