"""Throughput: ganzoo's step timed against the tutorial's own loop in one process."""
