"""Processes as data (SPEC §3): one module per process, each defining `PROCESS = Process(...)` and
nothing else of substance.

Every module of this package that defines `PROCESS` is registered at import (`REGISTRY`), so
adding a process is adding one module. The data types are in `workflow.cases.definitions`, the
data specs' validator in `workflow.validation`.
"""
from __future__ import annotations

import importlib
import pkgutil

from workflow.cases.definitions import Process

REGISTRY: dict[str, Process] = {}


def get_process(name: str) -> Process | None:
    return REGISTRY.get(name)


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        proc = getattr(module, "PROCESS", None)
        if isinstance(proc, Process):
            REGISTRY[proc.name] = proc


_discover()
