"""``syncd demo``: the bundled emulator, a daemon and a playing scanner, end to end.

``runner`` starts them and prints what happens; ``scans`` makes the sample scans.
"""
