"""Where verification runs: worker processes on this machine, or a cluster."""

from assay.executors.base import Executor, ExecutorFactory, ItemResult, VerifierSpec, WorkUnit
from assay.executors.local import InlineExecutor, ProcessExecutor, make_local_executor

__all__ = [
    "Executor",
    "InlineExecutor",
    "ItemResult",
    "ProcessExecutor",
    "VerifierSpec",
    "WorkUnit",
    "make_local_executor",
]


def by_name(name: str, **options: object) -> ExecutorFactory:
    """An executor factory by its `--executor` name."""
    if name == "local":
        return make_local_executor
    if name == "ray":
        from assay.executors.ray import ray_executor  # Ray is imported only when asked for

        address = options.get("address")
        return ray_executor(address=str(address) if address else None)
    raise ValueError(f"unknown executor {name!r} (known: local, ray)")
