"""Concealed, verifiable 1:1 allocation by permuted blocks of varying size, per stratum.

A stratum is (site, BCLC stage A/B/C). Its allocation list is a sequence of blocks; block
``k`` (0-based) is derived from the site's secret alone:

1. ``digest = HMAC-SHA256(key=site_secret, msg=UTF-8 of f"{site}|BCLC-{stage}|block{k}")``
2. block size = ``BLOCK_SIZES[int.from_bytes(digest[0:8], "big") % 3]``, i.e. 2, 4 or 6;
3. the positions (0-based within the block) that get the neoadjuvant arm are
   ``combos[int.from_bytes(digest[8:16], "big") % len(combos)]``, where ``combos`` is
   ``list(itertools.combinations(range(size), size // 2))``; the other positions get direct
   surgery.

Every block therefore holds as many of each arm, so the imbalance within a stratum never
exceeds ``max(BLOCK_SIZES) // 2`` = 3 and is 0 at the end of each block. (The modulo bias is
below 2**-59.) Without the secret the list cannot be computed: predicting the next
allocation means predicting HMAC-SHA256 output. With the secret, an auditor regenerates every
allocation and `AllocationSequence.verify` compares it with the record.

This module only *derives* the sequence. Keeping each stratum's next index, allocating only
confirmed eligible patients, and never re-drawing are the storage layer's job.
Site codes must be written the same way every time ("site-1" and "Site-1" are different
strata with different sequences).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Literal, get_args

from app.errors import ScreeningError
from app.randomisation.arms import Arm

StratumStage = Literal["A", "B", "C"]
MismatchKind = Literal["wrong_arm", "duplicate", "missing"]

BLOCK_SIZES: tuple[int, ...] = (2, 4, 6)
"""Possible block sizes, each chosen with probability 1/3."""
SCHEME = "Neoadj-Net01 permuted blocks 2/4/6 by HMAC-SHA256 v1"
"""Name of this derivation, to store beside each allocation."""
MIN_SECRET_BYTES = 16
"""A site secret has at least 128 bits."""
MAX_INDEX = 1_000_000
"""Allocation indices are 0 to MAX_INDEX - 1 per stratum (the trial enrols 160)."""


class RandomisationError(ScreeningError):
    """The allocation sequence cannot be derived as asked (bad secret, stratum or index)."""


@dataclass(frozen=True)
class Stratum:
    """A randomisation stratum: one site and one BCLC stage (A, B or C).

    Raises:
        RandomisationError: for an empty site code, one containing "|" or control characters,
            or a stage other than A, B, C (BCLC-0 and D are not eligible).
    """

    site: str
    bclc: StratumStage

    def __post_init__(self) -> None:
        if not self.site or "|" in self.site or not self.site.isprintable():
            raise RandomisationError(
                f"Randomisation: site code {self.site!r} must be non-empty printable text "
                "without '|'."
            )
        if self.bclc not in get_args(StratumStage):
            raise RandomisationError(
                f"Randomisation: BCLC stage {self.bclc!r} is not a stratum; "
                "only BCLC-A, B and C patients can be randomised."
            )

    @property
    def key(self) -> str:
        """The text that names the stratum in the HMAC message, e.g. "site-1|BCLC-B"."""
        return f"{self.site}|BCLC-{self.bclc}"


@dataclass(frozen=True)
class Allocation:
    """The arm at one position of a stratum's sequence.

    Attributes:
        index: 0-based position in the stratum (the stratum's n-th randomised patient).
        arm: The allocated arm.
        block_index: 0-based block number within the stratum.
        block_size: Size of that block (2, 4 or 6).
        position: 0-based position within the block.
    """

    index: int
    arm: Arm
    block_index: int
    block_size: int
    position: int


@dataclass(frozen=True)
class Mismatch:
    """A difference between recorded allocations and the sequence derived from the secret.

    Attributes:
        index: The allocation index concerned.
        kind: "wrong_arm" (recorded arm differs), "duplicate" (index recorded again) or
            "missing" (an index below the highest recorded one has no record: a skipped or
            discarded allocation).
        recorded: The recorded arm text; ``None`` for "missing".
        expected: The arm the sequence gives at ``index``.
    """

    index: int
    kind: MismatchKind
    recorded: str | None
    expected: Arm


class AllocationSequence:
    """The concealed allocation sequence of one stratum (see the module docstring).

    Pure and deterministic: the same secret and stratum always give the same sequence.
    Safe to share between threads.

    Args:
        site_secret: The site's randomisation secret, at least 16 bytes, kept outside the
            database that stores the allocations.
        stratum: The stratum whose sequence this is.

    Raises:
        RandomisationError: if the secret is shorter than 16 bytes.
    """

    def __init__(self, site_secret: bytes, stratum: Stratum) -> None:
        if not isinstance(site_secret, bytes) or len(site_secret) < MIN_SECRET_BYTES:
            raise RandomisationError(
                f"Randomisation: the site secret must be at least {MIN_SECRET_BYTES} bytes."
            )
        self._secret = site_secret
        self.stratum = stratum
        self._lock = threading.Lock()
        self._ends: list[int] = []  # _ends[k] = index just after block k

    def __repr__(self) -> str:  # never show the secret
        return f"AllocationSequence(stratum={self.stratum!r})"

    def block(self, block_index: int) -> tuple[Arm, ...]:
        """The arms of block ``block_index`` (0-based), in allocation order."""
        if block_index < 0:
            raise RandomisationError(f"Randomisation: block index {block_index} is negative.")
        message = f"{self.stratum.key}|block{block_index}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        size = BLOCK_SIZES[int.from_bytes(digest[0:8], "big") % len(BLOCK_SIZES)]
        combos = list(combinations(range(size), size // 2))
        neoadjuvant = set(combos[int.from_bytes(digest[8:16], "big") % len(combos)])
        return tuple(
            Arm.NEOADJUVANT if pos in neoadjuvant else Arm.DIRECT_SURGERY for pos in range(size)
        )

    def allocation_at(self, index: int) -> Allocation:
        """The allocation of the stratum's ``index``-th patient (0-based).

        Raises:
            RandomisationError: for an index outside 0 to MAX_INDEX - 1.
        """
        if not 0 <= index < MAX_INDEX:
            raise RandomisationError(
                f"Randomisation: allocation index {index} is outside 0-{MAX_INDEX - 1}."
            )
        with self._lock:
            while not self._ends or self._ends[-1] <= index:
                start = self._ends[-1] if self._ends else 0
                self._ends.append(start + len(self.block(len(self._ends))))
            block_index = bisect.bisect_right(self._ends, index)
            start = self._ends[block_index - 1] if block_index else 0
        arms = self.block(block_index)
        position = index - start
        return Allocation(index, arms[position], block_index, len(arms), position)

    def verify(self, allocations: Iterable[tuple[int, str]]) -> list[Mismatch]:
        """Compare recorded ``(index, arm)`` pairs of this stratum with the derived sequence.

        Args:
            allocations: Every recorded allocation of the stratum, in any order; the arm as
                stored (e.g. "neoadjuvant").

        Returns:
            The mismatches sorted by index (then kind); empty when the record is exactly the
            sequence's first N allocations, each once.
        """
        records = list(allocations)
        mismatches: list[Mismatch] = []
        recorded = {index for index, _ in records}
        seen: set[int] = set()
        for index, arm in records:
            expected = self.allocation_at(index).arm
            if index in seen:
                mismatches.append(Mismatch(index, "duplicate", arm, expected))
            seen.add(index)
            if arm != expected.value:
                mismatches.append(Mismatch(index, "wrong_arm", arm, expected))
        top = max(recorded, default=-1)
        mismatches += [
            Mismatch(i, "missing", None, self.allocation_at(i).arm)
            for i in range(top)
            if i not in recorded
        ]
        return sorted(mismatches, key=lambda m: (m.index, m.kind))
