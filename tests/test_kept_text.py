"""Long texts clipped while they arrive: the same clip as the transcript's, a fraction of the
memory (issue 13: several connections each holding a whole 16 MiB reply at once)."""

from __future__ import annotations

import random
import struct
import tracemalloc

from wscheck.core.events import Text
from wscheck.core.limits import CLIP_LENGTH, KeptText, clip_kept
from wscheck.drivers._wire import Frames


def _frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return bytes([(0x80 if fin else 0) | opcode, 127]) + struct.pack("!Q", len(payload)) + payload


def test_kept_text_is_clip_kept_of_the_whole_text_however_it_is_split() -> None:
    rng = random.Random(13)
    for length in (0, 10, CLIP_LENGTH, 5000, 5001, 70_000):
        whole = "".join(rng.choice("aé€😀\n") for _ in range(length))
        for _ in range(5):
            kept = KeptText(5000)
            cuts = sorted(rng.sample(range(length + 1), min(length + 1, 7)))
            for start, end in zip([0, *cuts], [*cuts, length]):
                kept.add(whole[start:end])
            assert kept.text() == (clip_kept(whole) if length > 5000 else whole)
            assert kept.chars == length
            assert kept.clipped == (length > 5000)
            if kept.clipped:
                assert kept.octets == len(whole.encode())


def test_frames_clip_a_long_text_as_it_arrives_and_keep_its_size() -> None:
    body = ("ab€" * (3 << 20))[: 8 << 20]
    payload = body.encode()
    half = len(payload) // 2
    wire = _frame(0x1, payload[:half], fin=False) + _frame(0x0, payload[half:])
    frames = Frames(16 << 20, keep=256 * 1024)
    tracemalloc.start()
    try:
        messages = []
        for start in range(0, len(wire), 1 << 16):
            messages += frames.decode(wire[start:start + (1 << 16)]).messages
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert messages == [Text(clip_kept(body))]
    message = messages[0]
    assert isinstance(message, Text)
    assert message.original == (len(body), len(payload))
    assert message.chars == len(body)
    # The 8 MiB body was never held whole, nor in parts (each read is 64 KiB).
    assert peak < 2 << 20


def test_frames_keep_texts_whole_without_a_keep_bound() -> None:
    body = "x" * (1 << 20)
    frames = Frames(16 << 20)
    assert frames.decode(_frame(0x1, body.encode())).messages == [Text(body)]
