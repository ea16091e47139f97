"""Typed keys under which the aiohttp application keeps the emulator's shared objects."""

from __future__ import annotations

from aiohttp import web

from syncd.emulator.core import EmulatorCore

CORE = web.AppKey("core", EmulatorCore)
