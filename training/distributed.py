"""Ending a data-parallel run so that every process exits cleanly.

Under torchrun / accelerate, a non-main process that returns from training right after the last all-gather and
starts finalising the interpreter while the DDP-wrapped model (and gloo's pending work objects) are still alive
can abort ("terminate called without an active exception"): a gloo worker thread then needs the GIL the exiting
main thread holds. The launcher sees one rank die and kills the others, possibly while rank 0 is still writing
the output folder. The order that ends cleanly: release the Trainer and the model, wait for every process at a
barrier (so rank 0 has finished writing), then destroy the process group.
"""

import gc
from datetime import timedelta

import torch.distributed as dist


def wait_for_everyone() -> None:
    """A barrier across the data-parallel processes; a no-op in a single process."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_from_main(value):
    """`value` as the main process (rank 0) has it, on every process (any picklable object); `value` itself in a
    single process. Every process must call it."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]
    return value


def end_distributed_run() -> None:
    """Call once at the end of an entry point, after the Trainer and model are out of scope: frees what is
    left of them, waits for every process, then destroys the process group."""
    gc.collect()  # the Trainer, its accelerator and callbacks reference each other: free the DDP model now
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def leave_distributed_run(grace_seconds: float = 30.0) -> None:
    """Call instead of `end_distributed_run` when an entry point stops on an error, after reporting it: frees what
    is left, waits up to `grace_seconds` for the other processes, then destroys the process group.

    The wait matters when the error is one they share (a refused output folder is broadcast to every process):
    a launcher kills the remaining processes as soon as one exits with an error, so a process that left at once
    could cut another short before it had said why it stopped. A process whose error was its own is not waited
    for longer than the grace period (gloo's monitored barrier times out; NCCL has none, so it leaves at once)."""
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "gloo":
            try:
                dist.monitored_barrier(timeout=timedelta(seconds=grace_seconds))
            except RuntimeError:
                pass  # another process did not stop here: leave without it
        dist.destroy_process_group()


__all__ = ["broadcast_from_main", "end_distributed_run", "leave_distributed_run", "wait_for_everyone"]
