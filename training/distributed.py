"""Ending a data-parallel run so that every process exits cleanly.

Under torchrun / accelerate, a non-main process that returns from training right after the last all-gather and
starts finalising the interpreter while the DDP-wrapped model (and gloo's pending work objects) are still alive
can abort ("terminate called without an active exception"): a gloo worker thread then needs the GIL the exiting
main thread holds. The launcher sees one rank die and kills the others, possibly while rank 0 is still writing
the output folder. The order that ends cleanly: release the Trainer and the model, wait for every process at a
barrier (so rank 0 has finished writing), then destroy the process group.
"""

import gc

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


def leave_distributed_run() -> None:
    """Call instead of `end_distributed_run` when an entry point stops on an error: frees what is left, then
    destroys the process group without a barrier (the other processes may never reach one; when the error is one
    they share, such as a refused output folder, each of them leaves the same way)."""
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["broadcast_from_main", "end_distributed_run", "leave_distributed_run", "wait_for_everyone"]
