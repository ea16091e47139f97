"""Reliability tests: crashes, faults, hostile input, stateful runs and TLS (issue 6)."""
