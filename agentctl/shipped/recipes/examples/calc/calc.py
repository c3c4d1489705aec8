"""A tiny calculator with a bug for the fix-failing-test recipe."""


def average(numbers):
    """The arithmetic mean of a non-empty list of numbers."""
    return sum(numbers) / len(numbers) + 1
