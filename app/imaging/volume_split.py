"""Split the frames of one geometry into volumes when slice positions repeat.

Several frames at one position are echoes, time points, b-values, magnitude/phase images,
label/control pairs... The split, in this order:

1. No position repeats: one volume.
2. The `VOLUME_ATTRIBUTES` that vary are tried in order (temporal position, echo, b-value,
   frame type, stack, other dimension indices, trigger time, acquisition number, frame
   number); each one is kept if it separates more of the repeated frames. When the kept ones
   separate all of them into exactly as many groups as the most-repeated position has frames,
   each group is a volume, labelled by those values ("time point 2", "TE 9 ms"). A volume that
   lacks a position gets an empty (zero) slice there, with a warning.
3. Otherwise, when every position repeats the same number of times, the k-th frame of each
   position (in acquisition order) goes to volume k ("repeat 2"), with a warning that no tag
   tells them apart.
4. Otherwise the repeats are duplicates: the first frame (acquisition order) of each position
   is used and the others are ignored, with a warning.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.imaging.frames import VOLUME_ATTRIBUTES, AttrValue, Frame

_LABELS = {
    "temporal": "time point {}",
    "echo": "echo {}",
    "echo_time": "TE {:g} ms",
    "bvalue": "b {:g}",
    "frame_type": "{}",
    "stack": "stack {}",
    "dimension": "index {}",
    "trigger": "trigger {:g} ms",
    "acquisition": "acquisition {}",
    "frame": "frame {}",
}


@dataclass(frozen=True)
class VolumeSplit:
    """Which volume each frame goes to.

    Attributes:
        volume_of_frame: (frames,) volume index of each frame, or -1 for an ignored duplicate.
        labels: One label per volume ("" when there is a single volume).
        warnings: Repeats without distinguishing tags, duplicates, volumes lacking a slice.
    """

    volume_of_frame: list[int]
    labels: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def volume_count(self) -> int:
        """Number of volumes."""
        return len(self.labels)


def split_volumes(
    frames: Sequence[Frame], slot_of_frame: Sequence[int], slot_mm: Sequence[float]
) -> VolumeSplit:
    """Assign each frame of one geometry to a volume (see the module doc).

    Args:
        frames: The frames.
        slot_of_frame: (frames,) slice position index of each frame.
        slot_mm: Distance along the normal of each slice position, for messages.
    """
    counts = Counter(slot_of_frame)
    most = max(counts.values())
    if most == 1:
        return VolumeSplit([0] * len(frames), [""])
    chosen = _separating_attributes(frames, slot_of_frame)
    if chosen is not None:
        return _split_by(frames, slot_of_frame, chosen, len(counts), slot_mm)
    order = sorted(range(len(frames)), key=lambda i: frames[i].order_key)
    if all(c == most for c in counts.values()):
        rank: dict[int, int] = defaultdict(int)
        volume = [0] * len(frames)
        for i in order:
            volume[i] = rank[slot_of_frame[i]]
            rank[slot_of_frame[i]] += 1
        return VolumeSplit(
            volume,
            [f"repeat {k + 1}" for k in range(most)],
            [
                f"every slice position holds {most} frames that no tag tells apart; they were "
                f"split into {most} volumes in acquisition order."
            ],
        )
    seen: set[int] = set()
    volume = [-1] * len(frames)
    for i in order:
        if slot_of_frame[i] not in seen:
            seen.add(slot_of_frame[i])
            volume[i] = 0
    repeated = sorted(s for s, c in counts.items() if c > 1)
    where = ", ".join(f"{slot_mm[s] - slot_mm[0]:.2f}" for s in repeated[:5])
    more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
    return VolumeSplit(
        volume,
        [""],
        [
            f"{len(frames) - len(counts)} duplicate frame(s) at slice positions already filled "
            f"(at {where}{more} mm along the normal, from the first): the first acquired was "
            "used, the others ignored."
        ],
    )


def _separating_attributes(
    frames: Sequence[Frame], slot_of_frame: Sequence[int]
) -> list[str] | None:
    """The attributes that split repeated positions into as many volumes as repeats, or None."""
    most = max(Counter(slot_of_frame).values())
    chosen: list[str] = []
    collisions = len(frames) - len(set(slot_of_frame))
    for name in VOLUME_ATTRIBUTES:
        if len({f.attributes.get(name) for f in frames}) < 2:
            continue
        trial = [*chosen, name]
        keyed = {(_key(f, trial), s) for f, s in zip(frames, slot_of_frame, strict=True)}
        remaining = len(frames) - len(keyed)
        if remaining < collisions:
            chosen, collisions = trial, remaining
        if collisions == 0:
            break
    if collisions or len({_key(f, chosen) for f in frames}) != most:
        return None
    return chosen


def _split_by(
    frames: Sequence[Frame],
    slot_of_frame: Sequence[int],
    chosen: list[str],
    n_slots: int,
    slot_mm: Sequence[float],
) -> VolumeSplit:
    keys = sorted({_key(f, chosen) for f in frames}, key=_sortable)
    index = {k: v for v, k in enumerate(keys)}
    volume = [index[_key(f, chosen)] for f in frames]
    labels = [", ".join(_label(n, v) for n, v in zip(chosen, k, strict=True)) for k in keys]
    warnings = []
    for v, label in enumerate(labels):
        present = {s for s, vol in zip(slot_of_frame, volume, strict=True) if vol == v}
        if len(present) < n_slots:
            absent = sorted(set(range(n_slots)) - present)
            where = ", ".join(f"{slot_mm[s] - slot_mm[0]:.2f}" for s in absent[:5])
            warnings.append(
                f"volume '{label}' lacks {len(absent)} slice(s) (at {where} mm along the normal, "
                "from the first): left empty (zeros)."
            )
    return VolumeSplit(volume, labels, warnings)


def _key(frame: Frame, names: Sequence[str]) -> tuple[AttrValue, ...]:
    return tuple(frame.attributes.get(n) for n in names)


def _sortable(key: tuple[AttrValue, ...]) -> tuple[tuple[int, tuple[float, ...], str], ...]:
    """Sort numbers (and tuples of numbers) numerically, text alphabetically, absent last."""
    out: list[tuple[int, tuple[float, ...], str]] = []
    for value in key:
        if value is None:
            out.append((2, (), ""))
        elif isinstance(value, int | float):
            out.append((0, (float(value),), ""))
        elif isinstance(value, tuple) and all(isinstance(v, int | float) for v in value):
            out.append((0, tuple(float(v) for v in value), ""))
        else:
            out.append((1, (), str(value)))
    return tuple(out)


def _label(name: str, value: AttrValue) -> str:
    if value is None:
        return f"no {name.replace('_', ' ')}"
    if isinstance(value, tuple):
        return _LABELS[name].format("/".join(str(v) for v in value))
    return _LABELS[name].format(value)
