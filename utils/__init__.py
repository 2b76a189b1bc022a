"""Small helpers that every layer of `dfer` may use and that belong to none of them (the bottom of the import
order, below processing): writing files safely."""

from .atomic_write import write_atomically, write_text_atomically

__all__ = ["write_atomically", "write_text_atomically"]
