"""The suite does not depend on today's date: the time-sensitive tests pass with the clock a year ahead.

Every test takes its times from a fixed clock or from "now". The ones that
take "now" in process (routes, OTLP, faults) run again here in a second pytest
whose clock ``tests/conftest.py`` moves ahead with time-machine; the rest
(repository, events, query, cursors) hold a fixed ``NOW`` and pass a clock to
the code, so no date can change them. The local-stack tests run servers in
other processes on the real clock and send times relative to it.
"""
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import CLOCK_SHIFT_DAYS, ROOT

TIME_SENSITIVE = ["tests/test_routes.py", "tests/test_otlp.py", "tests/test_faults.py", "tests/test_clock.py"]
DAYS_AHEAD = 365
NOT_BEFORE = "SLOG_TEST_CLOCK_NOT_BEFORE"


@pytest.mark.skipif(CLOCK_SHIFT_DAYS not in os.environ, reason="only inside the shifted run")
def test_the_clock_is_really_moved_ahead():
    assert time.time() >= float(os.environ[NOT_BEFORE])


@pytest.mark.slow
@pytest.mark.skipif(CLOCK_SHIFT_DAYS in os.environ, reason="already the shifted run")
def test_the_time_sensitive_tests_pass_with_the_clock_a_year_ahead():
    env = {**os.environ, CLOCK_SHIFT_DAYS: str(DAYS_AHEAD), NOT_BEFORE: str(time.time() + (DAYS_AHEAD - 1) * 86_400)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "--no-cov", "-m", "not slow", "-rs",
         *TIME_SENSITIVE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "test_the_clock_is_really_moved_ahead" not in output, "the clock check was skipped:\n" + output[-2000:]
