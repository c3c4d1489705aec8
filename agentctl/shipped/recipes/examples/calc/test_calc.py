"""Run with `python3 test_calc.py`; prints what fails and exits non-zero when a check fails."""

import sys

from calc import average

failures = []
for numbers, expected in (([2, 4], 3), ([5], 5), ([1, 2, 3, 4], 2.5)):
    got = average(numbers)
    if got != expected:
        failures.append(f"FAIL: average({numbers}) should be {expected}, got {got}")
print("\n".join(failures) or "all checks pass")
sys.exit(1 if failures else 0)
