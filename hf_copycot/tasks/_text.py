"""Vectorised ASCII text assembly: many rows of text built in a few numpy passes.

Generators describe the text of every row as pieces laid end to end. A piece is either `bytes`
(the same for every row) or a `Ragged` (one variable-length run of character codes per row).
`concat` lays pieces out in one uint8 buffer and `render` decodes that buffer once and splits it
into Python strings, so Python touches each row once to create its `str`, never each character.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Powers of ten for counting decimal digits with one searchsorted.
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)
_SEPARATOR = b"\0"  # never part of a task's text (printable ASCII and "\n" only)


class Ragged(NamedTuple):
    """Concatenated uint8 codes of many items, and the length of each item."""

    codes: np.ndarray
    lengths: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.lengths) - self.lengths


Piece = bytes | Ragged


def ragged(codes: np.ndarray, lengths: np.ndarray) -> Ragged:
    return Ragged(np.ascontiguousarray(codes, dtype=np.uint8), np.asarray(lengths, dtype=np.int64))


def run_positions(lengths: np.ndarray) -> np.ndarray:
    """Index within its own run for every element of consecutive runs of the given lengths."""
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


def take(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> Ragged:
    """The runs flat[starts[i] : starts[i] + lengths[i]], concatenated."""
    lengths = np.asarray(lengths, dtype=np.int64)
    index = np.repeat(np.asarray(starts, dtype=np.int64), lengths) + run_positions(lengths)
    return Ragged(flat[index].astype(np.uint8, copy=False), lengths)


def take_items(items: Ragged, index: np.ndarray) -> Ragged:
    """Items items[index[0]], items[index[1]], ... of a Ragged."""
    index = np.asarray(index, dtype=np.int64)
    return take(items.codes, items.starts[index], items.lengths[index])


def concat(pieces: list[Piece], num_rows: int) -> Ragged:
    """Row r of the result is piece_0[r] + piece_1[r] + ... (bytes pieces repeat on every row)."""
    piece_lengths = [
        np.full(num_rows, len(p), dtype=np.int64) if isinstance(p, bytes) else p.lengths
        for p in pieces
    ]
    for lengths in piece_lengths:
        if len(lengths) != num_rows:
            raise ValueError(f"piece has {len(lengths)} rows, expected {num_rows}")
    row_lengths = np.sum(piece_lengths, axis=0, dtype=np.int64) if pieces else np.zeros(num_rows)
    out = np.empty(int(row_lengths.sum()), dtype=np.uint8)
    write_at = np.cumsum(row_lengths) - row_lengths  # where the next piece goes, per row
    for piece, lengths in zip(pieces, piece_lengths, strict=True):
        if isinstance(piece, bytes):
            if piece:
                index = write_at[:, None] + np.arange(len(piece), dtype=np.int64)
                out[index] = np.frombuffer(piece, dtype=np.uint8)
        elif len(piece.codes):
            out[np.repeat(write_at, lengths) + run_positions(lengths)] = piece.codes
        write_at = write_at + lengths
    return Ragged(out, row_lengths.astype(np.int64))


def render(pieces: list[Piece], num_rows: int) -> list[str]:
    """`concat`, then one decode and one split into a list of `num_rows` strings."""
    if num_rows == 0:
        return []
    buffer = concat([*pieces, _SEPARATOR], num_rows).codes
    return buffer.tobytes().decode("ascii").split(_SEPARATOR.decode())[:-1]


def join(items: Ragged, group_sizes: np.ndarray, sep: bytes) -> Ragged:
    """Consecutive groups of items, each group's items joined by `sep` (like `sep.join`)."""
    group_sizes = np.asarray(group_sizes, dtype=np.int64)
    num_items = len(items.lengths)
    if int(group_sizes.sum()) != num_items:
        raise ValueError("group sizes do not add up to the number of items")
    last_of_group = np.zeros(num_items, dtype=bool)
    ends = np.cumsum(group_sizes)[group_sizes > 0] - 1
    last_of_group[ends] = True
    sep_lengths = np.where(last_of_group, 0, len(sep)).astype(np.int64)
    sep_codes = np.tile(np.frombuffer(sep, dtype=np.uint8), int((~last_of_group).sum()))
    joined = concat([items, Ragged(sep_codes, sep_lengths)], num_items)
    cumulative = np.concatenate([[0], np.cumsum(joined.lengths)])
    group_ends = np.cumsum(group_sizes)
    group_lengths = cumulative[group_ends] - cumulative[group_ends - group_sizes]
    return Ragged(joined.codes, group_lengths)


def int_codes(values: np.ndarray) -> Ragged:
    """Decimal text of every integer (a leading '-' for negatives), one item per value."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if len(v) == 0:
        return Ragged(np.empty(0, np.uint8), np.empty(0, np.int64))
    negative = v < 0
    magnitude = np.abs(v)
    num_digits = 1 + np.searchsorted(_POW10, magnitude, side="right")
    width = int(num_digits.max())
    places = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)  # most significant first
    table = np.empty((len(v), width + 1), dtype=np.uint8)
    table[:, 0] = ord("-")
    table[:, 1:] = (magnitude[:, None] // places) % 10 + ord("0")
    keep = np.empty(table.shape, dtype=bool)
    keep[:, 0] = negative
    keep[:, 1:] = np.arange(width) >= (width - num_digits)[:, None]
    return Ragged(table[keep], num_digits + negative)


def join_ints(values: np.ndarray, group_sizes: np.ndarray, sep: bytes = b" ") -> Ragged:
    """Groups of integers written in decimal and joined by `sep`: "3 1 4"."""
    return join(int_codes(values), group_sizes, sep)


def padded_rows(
    matrix: np.ndarray, lengths: np.ndarray, starts: np.ndarray | None = None
) -> Ragged:
    """Row r of a padded 2-D uint8 matrix, columns starts[r] .. starts[r] + lengths[r] - 1."""
    num_rows, width = matrix.shape
    starts = np.zeros(num_rows, dtype=np.int64) if starts is None else starts
    row_offsets = np.arange(num_rows, dtype=np.int64) * width
    return take(matrix.ravel(), row_offsets + starts, lengths)


def strings_of(
    chars: np.ndarray, lengths: np.ndarray, starts: np.ndarray | None = None
) -> list[str]:
    """Row r's characters starts[r] .. starts[r] + lengths[r] - 1 of a padded uint8 matrix.

    The fast path for text that sits in one padded matrix: a NUL is written just past each row's
    text (so the matrix needs a spare column there and is modified), then one boolean-mask pass,
    one decode and one split. `starts` defaults to 0.
    """
    num_rows, width = chars.shape
    if num_rows == 0:
        return []
    columns = np.arange(width)
    ends = lengths if starts is None else starts + lengths
    chars[np.arange(num_rows), ends] = 0
    keep = columns <= ends[:, None]
    if starts is not None:
        keep &= columns >= starts[:, None]
    return chars[keep].tobytes().decode("ascii").split("\0")[:-1]


def split_list(flat: list, lengths: np.ndarray) -> list[list]:
    """A flat Python list cut into consecutive sublists of the given lengths."""
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    return [flat[a:b] for a, b in zip(starts, ends, strict=True)]
