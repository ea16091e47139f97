"""Shared helpers for syncd's tests: waiting, configs, images, a daemon in a thread."""
