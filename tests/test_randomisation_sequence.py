"""The concealed allocation sequence: balance, varying blocks, strata, secrecy, verification."""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
from collections import Counter, defaultdict
from itertools import combinations

import pytest

from app.errors import ScreeningError
from app.randomisation import (
    BLOCK_SIZES,
    SCHEME,
    AllocationSequence,
    Arm,
    RandomisationError,
    Stratum,
)

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))
SITES = ("site-1", "site-2", "site-3")
STAGES = ("A", "B", "C")
MAX_IMBALANCE = max(BLOCK_SIZES) // 2


def arms(sequence: AllocationSequence, n: int) -> list[Arm]:
    return [sequence.allocation_at(i).arm for i in range(n)]


def test_ten_thousand_patients_stay_balanced_in_every_stratum_and_block() -> None:
    rng = random.Random(20240601)
    strata = [Stratum(site, stage) for site in SITES for stage in STAGES]  # type: ignore[arg-type]
    weights = [rng.uniform(0.5, 3.0) for _ in strata]  # uneven recruitment per stratum
    sequences = {s: AllocationSequence(SECRET, s) for s in strata}
    next_index: Counter[Stratum] = Counter()
    counts: dict[Stratum, Counter[Arm]] = defaultdict(Counter)
    block_arms: dict[tuple[Stratum, int], list[Arm]] = defaultdict(list)
    block_sizes: list[int] = []
    total: Counter[Arm] = Counter()

    for _ in range(10_000):
        stratum = rng.choices(strata, weights)[0]
        allocation = sequences[stratum].allocation_at(next_index[stratum])
        next_index[stratum] += 1
        counts[stratum][allocation.arm] += 1
        total[allocation.arm] += 1
        imbalance = counts[stratum][Arm.NEOADJUVANT] - counts[stratum][Arm.DIRECT_SURGERY]
        assert abs(imbalance) <= MAX_IMBALANCE
        block = block_arms[(stratum, allocation.block_index)]
        block.append(allocation.arm)
        assert allocation.position == len(block) - 1
        if allocation.position == allocation.block_size - 1:  # block just completed
            block_sizes.append(allocation.block_size)
            assert block.count(Arm.NEOADJUVANT) == block.count(Arm.DIRECT_SURGERY)
            assert imbalance == 0

    assert sum(next_index.values()) == 10_000
    assert all(n > 300 for n in next_index.values())
    assert abs(total[Arm.NEOADJUVANT] - total[Arm.DIRECT_SURGERY]) <= MAX_IMBALANCE * len(strata)
    # Block sizes vary: each of 2, 4, 6 is drawn with probability 1/3 (about 2500 blocks).
    size_counts = Counter(block_sizes)
    assert set(size_counts) == set(BLOCK_SIZES)
    for size in BLOCK_SIZES:
        assert 0.28 < size_counts[size] / len(block_sizes) < 0.39


def test_every_balanced_arrangement_occurs() -> None:
    sequence = AllocationSequence(SECRET, Stratum("site-1", "B"))
    patterns: dict[int, Counter[tuple[Arm, ...]]] = defaultdict(Counter)
    for k in range(1500):
        block = sequence.block(k)
        patterns[len(block)][block] += 1
    for size, seen in patterns.items():
        n_balanced = len(list(combinations(range(size), size // 2)))  # 2, 6 and 20
        assert len(seen) == n_balanced
        expected = sum(seen.values()) / n_balanced
        assert all(0.5 * expected < count < 1.5 * expected for count in seen.values())


def test_sequence_follows_the_documented_derivation() -> None:
    # An auditor's re-implementation from the module docstring, written separately here.
    stratum = Stratum("site-2", "C")
    expected: list[str] = []
    for k in range(40):
        digest = hmac.new(SECRET, f"site-2|BCLC-C|block{k}".encode(), hashlib.sha256).digest()
        size = (2, 4, 6)[int.from_bytes(digest[:8], "big") % 3]
        options = list(combinations(range(size), size // 2))
        chosen = options[int.from_bytes(digest[8:16], "big") % len(options)]
        expected += ["neoadjuvant" if p in chosen else "direct_surgery" for p in range(size)]
    sequence = AllocationSequence(SECRET, stratum)
    assert [a.value for a in arms(sequence, len(expected))] == expected


def test_same_secret_and_stratum_regenerate_the_same_sequence_in_any_order() -> None:
    stratum = Stratum("site-1", "A")
    forward = [AllocationSequence(SECRET, stratum).allocation_at(i) for i in range(300)]
    backward_sequence = AllocationSequence(SECRET, stratum)
    backward = [backward_sequence.allocation_at(i) for i in reversed(range(300))]
    assert forward == backward[::-1]


def test_sequences_differ_per_secret_and_per_stratum() -> None:
    n = 200
    base = arms(AllocationSequence(SECRET, Stratum("site-1", "A")), n)
    others = [
        arms(AllocationSequence(OTHER_SECRET, Stratum("site-1", "A")), n),
        arms(AllocationSequence(SECRET, Stratum("site-2", "A")), n),
        arms(AllocationSequence(SECRET, Stratum("site-1", "B")), n),
    ]
    for other in others:
        agreement = sum(a == b for a, b in zip(base, other, strict=True)) / n
        assert 0.3 < agreement < 0.7  # independent sequences agree about half the time


def test_sequence_is_not_periodic() -> None:
    sequence = arms(AllocationSequence(SECRET, Stratum("site-3", "B")), 1200)
    for period in range(1, 601):
        assert any(sequence[i] != sequence[i + period] for i in range(len(sequence) - period))


def test_first_allocation_is_not_fixed_without_the_secret() -> None:
    # Over many secrets the first allocation of a stratum is a fair coin: without the secret,
    # nothing about the stratum tells what it will be.
    rng = random.Random(7)
    stratum = Stratum("site-1", "A")
    firsts = [
        AllocationSequence(rng.randbytes(32), stratum).allocation_at(0).arm for _ in range(2000)
    ]
    share = firsts.count(Arm.NEOADJUVANT) / len(firsts)
    assert 0.45 < share < 0.55


@pytest.mark.parametrize("period", [2, 4, 6])
def test_blocks_are_not_aligned_to_a_fixed_size(period: int) -> None:
    # With one fixed block size p, every window [k*p, (k+1)*p) would be balanced, so the
    # last arm of each window could be predicted from the ones before it.
    sequence = arms(AllocationSequence(SECRET, Stratum("site-2", "B")), 6000)
    windows = [sequence[k : k + period] for k in range(0, len(sequence), period)]
    balanced = sum(w.count(Arm.NEOADJUVANT) * 2 == period for w in windows) / len(windows)
    assert balanced < 0.85
    repeats = sum(sequence[i] == sequence[i + 1] for i in range(len(sequence) - 1))
    assert repeats > 0.3 * len(sequence)  # not strictly alternating


def _record(sequence: AllocationSequence, n: int) -> list[tuple[int, str]]:
    return [(i, sequence.allocation_at(i).arm.value) for i in range(n)]


def test_verification_accepts_the_true_record() -> None:
    sequence = AllocationSequence(SECRET, Stratum("site-1", "C"))
    assert sequence.verify(_record(sequence, 57)) == []
    assert sequence.verify(reversed(_record(sequence, 57))) == []
    assert sequence.verify([]) == []


def test_verification_detects_a_swapped_allocation() -> None:
    sequence = AllocationSequence(SECRET, Stratum("site-1", "C"))
    record = _record(sequence, 40)
    i = next(k for k in range(len(record) - 1) if record[k][1] != record[k + 1][1])
    record[i], record[i + 1] = (i, record[i + 1][1]), (i + 1, record[i][1])
    mismatches = sequence.verify(record)
    assert [(m.index, m.kind) for m in mismatches] == [(i, "wrong_arm"), (i + 1, "wrong_arm")]
    assert mismatches[0].expected.value != mismatches[0].recorded


def test_verification_detects_a_skipped_and_a_repeated_draw() -> None:
    sequence = AllocationSequence(SECRET, Stratum("site-3", "A"))
    record = _record(sequence, 30)
    skipped = record.pop(12)  # allocation 12 was drawn and discarded
    record.append((20, record[19][1]))  # index 20 recorded twice
    mismatches = sequence.verify(record)
    assert (12, "missing", None, sequence.allocation_at(12).arm) in [
        (m.index, m.kind, m.recorded, m.expected) for m in mismatches
    ]
    assert any(m.index == 20 and m.kind == "duplicate" for m in mismatches)
    assert skipped[0] == 12


def test_verification_with_the_wrong_secret_fails() -> None:
    stratum = Stratum("site-1", "A")
    record = _record(AllocationSequence(SECRET, stratum), 60)
    mismatches = AllocationSequence(OTHER_SECRET, stratum).verify(record)
    assert len(mismatches) > 10
    assert {m.kind for m in mismatches} == {"wrong_arm"}


def test_concurrent_lookups_agree_with_serial_ones() -> None:
    stratum = Stratum("site-2", "A")
    expected = [AllocationSequence(SECRET, stratum).allocation_at(i) for i in range(400)]
    shared = AllocationSequence(SECRET, stratum)
    results: dict[int, object] = {}

    def work(offset: int) -> None:
        for i in range(offset, 400, 4):
            results[i] = shared.allocation_at(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(400)] == expected


def test_the_secret_never_shows() -> None:
    sequence = AllocationSequence(b"very-secret-site-key-123", Stratum("site-1", "A"))
    assert "very-secret" not in repr(sequence)
    assert "site-1" in repr(sequence)
    assert "HMAC-SHA256" in SCHEME


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AllocationSequence(b"short", Stratum("site-1", "A")), "at least 16 bytes"),
        (lambda: AllocationSequence("x" * 32, Stratum("site-1", "A")), "at least 16 bytes"),  # type: ignore[arg-type]
        (lambda: Stratum("site-1", "D"), "BCLC stage 'D' is not a stratum"),  # type: ignore[arg-type]
        (lambda: Stratum("site-1", "0"), "BCLC stage '0' is not a stratum"),  # type: ignore[arg-type]
        (lambda: Stratum("", "A"), "site code"),
        (lambda: Stratum("a|b", "A"), "without '|'"),
        (lambda: Stratum("site\n1", "A"), "printable"),
        (lambda: AllocationSequence(SECRET, Stratum("s", "A")).allocation_at(-1), "index -1"),
        (lambda: AllocationSequence(SECRET, Stratum("s", "A")).allocation_at(10**7), "index"),
        (lambda: AllocationSequence(SECRET, Stratum("s", "A")).block(-2), "block index -2"),
        (lambda: AllocationSequence(SECRET, Stratum("s", "A")).verify([(-3, "x")]), "-3"),
    ],
)
def test_bad_input_raises_a_clear_error(build: object, message: str) -> None:
    with pytest.raises(RandomisationError, match=message) as info:
        build()  # type: ignore[operator]
    assert isinstance(info.value, ScreeningError)
