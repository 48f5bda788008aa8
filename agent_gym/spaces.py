"""The text space of agent-gym observations and actions.

Gymnasium's ``Text`` space only admits characters of a finite charset and its
``AsyncVectorEnv`` shared-memory codec stores charset indices, which silently
drops every other character. :class:`FreeText` admits any Unicode string up to
``max_length`` and registers a lossless shared-memory codec (Unicode code points
with a length prefix), so ``gym.make_vec(..., vectorization_mode="async")``
returns observations unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import shared_memory as _shm

#: Longest observation / action string the spaces accept (also the async shared-memory slot size).
MAX_TEXT_LENGTH = 1 << 18

_PRINTABLE = "".join(chr(c) for c in range(32, 127)) + "\n\t"


class FreeText(spaces.Text):
    """A :class:`gymnasium.spaces.Text` that accepts any Unicode string up to ``max_length``.

    Membership checks only the type and the length; ``sample`` draws short
    printable-ASCII strings (for env checkers and smoke tests).
    """

    def __init__(self, max_length: int = MAX_TEXT_LENGTH, seed: int | None = None):
        super().__init__(max_length=max_length, min_length=0, charset=_PRINTABLE, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> str:  # noqa: D102
        length = int(self.np_random.integers(0, min(64, self.max_length) + 1))
        chars = self.np_random.choice(len(self.character_list), size=length)
        return "".join(self.character_list[i] for i in chars)

    def contains(self, x: Any) -> bool:  # noqa: D102
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"FreeText(max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, FreeText) and other.max_length == self.max_length

    __hash__ = None  # type: ignore[assignment]


@_shm.create_shared_memory.register(FreeText)
def _create(space: FreeText, n: int = 1, ctx: Any = None):
    import multiprocessing as mp

    ctx = ctx or mp
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@_shm.write_to_shared_memory.register(FreeText)
def _write(space: FreeText, index: int, value: str, shared_memory: Any) -> None:
    size = space.max_length + 1
    if len(value) > space.max_length:
        raise ValueError(f"text of {len(value)} characters exceeds the space's max_length {space.max_length}")
    dest = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    codes = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype=np.int32)
    dest[index * size] = len(codes)
    dest[index * size + 1 : index * size + 1 + len(codes)] = codes


class _LiveTexts(Sequence):
    """A view of the texts in shared memory, decoded on access.

    ``AsyncVectorEnv`` reads its shared memory once, at construction, and hands
    out ``deepcopy`` of that object after every reset/step (numpy arrays are live
    views). Strings are not, so this sequence decodes on each access and
    ``deepcopy`` turns it into a plain tuple of the current texts.
    """

    def __init__(self, data: np.ndarray):
        self._data = data

    def __len__(self) -> int:
        return self._data.shape[0]

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        row = self._data[index]
        return row[1 : 1 + int(row[0])].tobytes().decode("utf-32-le", "surrogatepass")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: Any) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (tuple, list, _LiveTexts)) else other)

    def __repr__(self) -> str:
        return repr(tuple(self))


@_shm.read_from_shared_memory.register(FreeText)
def _read(space: FreeText, shared_memory: Any, n: int = 1) -> _LiveTexts:
    size = space.max_length + 1
    return _LiveTexts(np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape(n, size))
