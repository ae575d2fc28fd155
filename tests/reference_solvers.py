"""Independent, deliberately plain solvers for checking generated rows.

Written differently from the generators in hf_copycot/tasks (scalar Python, brute force where the
input is small, other algorithms otherwise), so a shared mistake is unlikely. `check_row` parses a
row's prompt back into the task's input and recomputes cot and answer from it.
"""

from __future__ import annotations

import bisect
import itertools
import re
from functools import cache

PRINTABLE = {chr(c) for c in range(32, 127)} | {"\n"}


# --- n-gram lookup -------------------------------------------------------------------------------
def occurrences(s: str, gram: str) -> list[int]:
    """Every start of `gram` in `s`, overlapping ones included."""
    return [m.start() for m in re.finditer(f"(?={re.escape(gram)})", s)]


def unique_starts(s: str, n: int) -> list[int]:
    """Starts of n-grams that occur once and have at least one character after them."""
    return [j for j in range(len(s) - n) if len(occurrences(s, s[j : j + n])) == 1]


# --- LIS -----------------------------------------------------------------------------------------
def lis_length(xs: list[int]) -> int:
    """Patience sorting: O(n log n), strictly increasing."""
    tails: list[int] = []
    for x in xs:
        k = bisect.bisect_left(tails, x)
        tails[k : k + 1] = [x]
    return len(tails)


def lis_ending_at(xs: list[int]) -> list[int]:
    """d_i = 1 + LIS of the earlier values that are smaller than x_i."""
    return [1 + lis_length([y for y in xs[:i] if y < x]) for i, x in enumerate(xs)]


def lis_ending_at_brute(xs: list[int]) -> list[int]:
    """Enumerate every subsequence (n <= ~12)."""
    best = [1] * len(xs)
    for size in range(2, len(xs) + 1):
        for idx in itertools.combinations(range(len(xs)), size):
            if all(xs[a] < xs[b] for a, b in itertools.pairwise(idx)):
                best[idx[-1]] = max(best[idx[-1]], size)
    return best


# --- edit distance (Feng et al.: insert/delete 2, substitute 3, boundary dp[i][0] = i) ----------
def _leading(i: int, j: int) -> int:
    """Cost of the i letters of a and j of b left unmatched before anything else: one axis runs
    along the table's boundary at 1 a letter, the other at 2."""
    return min(i + 2 * j, 2 * i + j)


def edit_distance_alignments(a: str, b: str) -> int:
    """Minimum over every monotone alignment of a with b (brute force, short strings only)."""
    best = _leading(len(a), len(b))
    for k in range(1, min(len(a), len(b)) + 1):
        for left in itertools.combinations(range(len(a)), k):
            for right in itertools.combinations(range(len(b)), k):
                cost = sum(0 if a[i] == b[j] else 3 for i, j in zip(left, right, strict=True))
                inner = (len(a) - k - left[0]) + (len(b) - k - right[0])
                best = min(best, cost + _leading(left[0], right[0]) + 2 * inner)
    return best


def edit_table(a: str, b: str) -> list[list[int]]:
    """dp[i][j] = distance of a[:i] and b[:j], by memoised top-down recursion."""

    @cache
    def dist(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(
            dist(i - 1, j) + 2,
            dist(i, j - 1) + 2,
            dist(i - 1, j - 1) + (0 if a[i - 1] == b[j - 1] else 3),
        )

    return [[dist(i, j) for j in range(len(b) + 1)] for i in range(len(a) + 1)]


# --- m-local DP ----------------------------------------------------------------------------------
def local_dp_forward(xs: list[int], m: int) -> list[int]:
    """Shortest paths in the jump DAG by pushing each settled value forward."""
    best: list[int | None] = [None] * len(xs)
    best[0] = xs[0]
    for i in range(len(xs)):
        for j in range(i + 1, min(len(xs), i + m + 1)):
            candidate = best[i] + xs[j]
            if best[j] is None or candidate < best[j]:
                best[j] = candidate
    return best  # type: ignore[return-value]


def local_dp_paths(xs: list[int], m: int) -> list[int]:
    """Enumerate every walk 1 -> i with jumps <= m (n <= ~12)."""
    out = []
    for i in range(len(xs)):
        costs = []
        for size in range(i):
            for mid in itertools.combinations(range(1, i), size):
                path = (0, *mid, i) if i else (0,)
                if all(q - p <= m for p, q in itertools.pairwise(path)):
                    costs.append(sum(xs[p] for p in path))
        out.append(min(costs) if i else xs[0])
    return out


# --- row checks ----------------------------------------------------------------------------------
def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(" ")]


def check_row(row: dict, params: dict | None = None) -> None:
    """Assert that a generated row is a correct instance of its task (FORMATS.md)."""
    params = params or {}
    task, prompt, cot, answer = row["task"], row["prompt"], row["cot"], row["answer"]
    assert set(prompt + cot + answer) <= PRINTABLE, "text outside printable ASCII and newline"
    if task == "copy":
        assert prompt.endswith("|") and prompt.count("|") == 1
        assert answer == prompt[:-1] and cot == "" and row["length"] == len(answer)
        assert set(answer) <= set(params.get("alphabet", "abcdefghijklmnopqrstuvwxyz"))
    elif task in ("prefix_ngram", "suffix_ngram"):
        n = params.get("n", 3)
        if task == "prefix_ngram":
            gram, s, tail = prompt.split("|")
            assert tail == ""
        else:
            s, gram = prompt.split("|")
        assert gram == row["ngram"] and len(gram) == n and row["length"] == len(s) and cot == ""
        found = occurrences(s, gram)
        assert len(found) == 1, f"n-gram {gram!r} occurs {len(found)} times in {s!r}"
        rest = s[found[0] + n :]
        assert rest, "nothing follows the n-gram"
        limit = params.get("answer_length")
        assert answer == (rest if limit is None else rest[:limit])
    elif task == "phonebook":
        book_text, shots_text, query = prompt.split("\n\n")
        book = book_text.split("\n")
        assert len(book) == row["length"] >= 3 and cot == ""
        numbers = {}
        for line in book:
            match = re.fullmatch(r"([A-Z][a-z]+ [A-Z][a-z]+): ([6-9]\d{9})", line)
            assert match, f"bad phone-book line {line!r}"
            assert match[1] not in numbers, f"name {match[1]!r} twice in a book"
            numbers[match[1]] = match[2]
        shots = shots_text.split("\n")
        assert len(shots) == 2 and all(shot in book for shot in shots) and shots[0] != shots[1]
        assert query == row["query_name"] + ":" and row["query_name"] in numbers
        assert all(not shot.startswith(query) for shot in shots)
        assert answer == " " + numbers[row["query_name"]]
    elif task == "lis":
        assert prompt.endswith("|") and cot.endswith("|")
        xs = _ints(prompt[:-1])
        assert xs == row["sequence"] and len(xs) == row["length"]
        ends = lis_ending_at_brute(xs) if len(xs) <= 10 else lis_ending_at(xs)
        assert _ints(cot[:-1]) == ends
        assert answer == str(lis_length(xs))
    elif task == "ed":
        a, b, tail = prompt.split("|")
        assert tail == "" and a == row["string_a"] and b == row["string_b"]
        n, gap = row["length"], params.get("max_length_gap", 3)
        assert len(a) <= n <= len(b) and n in (len(a), len(b)) and a != b
        assert n - gap <= len(a) and len(b) <= n + gap - 1 and a.isalpha() and b.isalpha()
        assert len(set(a + b)) <= params.get("max_alphabet", 10)
        table = edit_table(a, b)
        assert cot == ",".join(" ".join(map(str, r[1:])) for r in table[1:]) + "|"
        assert answer == str(table[-1][-1])
        if len(a) <= 5 and len(b) <= 5:
            assert answer == str(edit_distance_alignments(a, b))
    elif task == "local_dp":
        match = re.fullmatch(r"m=(\d+):(.*)\|", prompt)
        assert match, f"bad local_dp prompt {prompt!r}"
        m, xs = int(match[1]), _ints(match[2])
        assert m == row["m"] >= 1 and xs == row["values"] and len(xs) == row["length"]
        dp = local_dp_paths(xs, m) if len(xs) <= 9 else local_dp_forward(xs, m)
        assert cot == " ".join(map(str, dp)) + "|"
        assert answer == str(dp[-1])
    elif task == "stream_dp":
        match = re.fullmatch(r"m=(\d+):", prompt)
        assert match, f"bad stream_dp prompt {prompt!r}"
        m = int(match[1])
        assert m == row["m"] >= 1 and cot.endswith("|")
        pairs = [step.split(":") for step in cot[:-1].split(" ")]
        xs = [int(x) for x, _ in pairs]
        assert xs == row["values"] and len(xs) == row["length"] and set(xs) <= set(range(10))
        states: dict[int, int] = {}  # 1-based, as in d_i = (x_i + d_(i-m)) mod 10
        for i, x in enumerate(xs, start=1):
            states[i] = (x + states.get(i - m, 0)) % 10
        assert [d for _, d in pairs] == [str(states[i]) for i in range(1, len(xs) + 1)]
        assert answer == str(states[len(xs)])
    else:
        raise AssertionError(f"unknown task {task!r}")
