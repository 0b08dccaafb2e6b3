"""The search space: per-layer (weight bits, input-activation bits), first/last layers pinned.

A configuration is a tuple with one ``(w_bits, a_bits)`` pair per quantized layer (pinned
layers included, at their pinned width), in the order of :attr:`SearchSpace.layers`.  Free
layers take any pair of the product ``w_bits × a_bits``; RLMP / CIM-AQ (arXiv 2601.21737)
and HAQ pin the first and last layer to 8 bits, which is the default here.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from hil.cim.layers import LayerShape
from hil.errors import ParameterError

Pair = tuple[int, int]
Config = tuple[Pair, ...]

DEFAULT_W_BITS = (2, 4, 6, 8)
DEFAULT_A_BITS = (2, 4, 6, 8)


def parse_bits(text: str, what: str = "bits") -> tuple[int, ...]:
    """'2,3,4,8' or '2-8' -> sorted unique widths, each in 2..16."""
    out: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-"))
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise ParameterError(f"{what} {text!r}: expected comma-separated integers or a range "
                             "like 2-8") from None
    if not out or min(out) < 2 or max(out) > 16:
        raise ParameterError(f"{what} {text!r}: need at least one width, each in 2..16")
    return tuple(sorted(out))


@dataclass(frozen=True)
class SearchSpace:
    """Quantized layers, the width sets of free layers and which layers are pinned."""

    layers: tuple[LayerShape, ...]
    w_bits: tuple[int, ...] = DEFAULT_W_BITS
    a_bits: tuple[int, ...] = DEFAULT_A_BITS
    pinned: tuple[int, ...] = field(default=())
    pin_bits: int = 8

    def __post_init__(self) -> None:
        if not self.layers:
            raise ParameterError("search space: no quantizable layer")
        for what, bits in (("w_bits", self.w_bits), ("a_bits", self.a_bits)):
            if not bits or any(int(b) != b or not 2 <= b <= 16 for b in bits) \
                    or list(bits) != sorted(set(bits)):
                raise ParameterError(f"search space {what}={bits!r}: need sorted unique integers "
                                     "in 2..16")
        bad = [i for i in self.pinned if not 0 <= i < len(self.layers)]
        if bad:
            raise ParameterError(f"pinned layer indices {bad} outside 0..{len(self.layers) - 1}")
        if not self.free:
            raise ParameterError(f"search space: all {len(self.layers)} layers are pinned; "
                                 "nothing to search (use a deeper model or --no-pin)")

    @classmethod
    def build(cls, layers: Sequence[LayerShape], w_bits: Sequence[int] = DEFAULT_W_BITS,
              a_bits: Sequence[int] = DEFAULT_A_BITS, pin_ends: bool = True,
              pin_bits: int = 8) -> "SearchSpace":
        """Space over ``layers``; ``pin_ends`` pins the first and last layer to ``pin_bits``."""
        layers = tuple(layers)
        pinned = tuple(sorted({0, len(layers) - 1})) if pin_ends and layers else ()
        return cls(layers, tuple(sorted(set(w_bits))), tuple(sorted(set(a_bits))), pinned,
                   pin_bits)

    # -- structure -----------------------------------------------------------------------
    @property
    def free(self) -> tuple[int, ...]:
        """Indices of the searched layers."""
        return tuple(i for i in range(len(self.layers)) if i not in self.pinned)

    @property
    def choices(self) -> tuple[Pair, ...]:
        """(w, a) pairs a free layer may take (weight-major order)."""
        return tuple(itertools.product(self.w_bits, self.a_bits))

    @property
    def size(self) -> int:
        """Number of configurations."""
        return len(self.choices) ** len(self.free)

    def configs(self) -> Iterator[Config]:
        """Every configuration (for exhaustive enumeration), in index order."""
        for combo in itertools.product(self.choices, repeat=len(self.free)):
            yield self.assemble(combo)

    def assemble(self, free_pairs: Sequence[Pair]) -> Config:
        """Full configuration from the pairs of the free layers (pinned ones filled in)."""
        if len(free_pairs) != len(self.free):
            raise ParameterError(f"{len(free_pairs)} pairs for {len(self.free)} free layers")
        it = iter(free_pairs)
        pin = (self.pin_bits, self.pin_bits)
        return tuple(pin if i in self.pinned else tuple(int(b) for b in next(it))
                     for i in range(len(self.layers)))

    def free_pairs(self, config: Config) -> tuple[Pair, ...]:
        return tuple(config[i] for i in self.free)

    def uniform(self, bits: int) -> Config:
        """All free layers at ``bits``/``bits`` (a baseline; ``bits`` need not be in the sets)."""
        return self.assemble([(bits, bits)] * len(self.free))

    def validate(self, config: Config) -> Config:
        """``config`` as a tuple of int pairs, checked against the layer count and pins."""
        config = tuple((int(w), int(a)) for w, a in config)
        if len(config) != len(self.layers):
            raise ParameterError(f"configuration has {len(config)} pairs; the space has "
                                 f"{len(self.layers)} layers")
        for i in self.pinned:
            if config[i] != (self.pin_bits, self.pin_bits):
                raise ParameterError(f"layer {self.layers[i].name} is pinned to "
                                     f"{self.pin_bits}/{self.pin_bits} bits, got {config[i]}")
        return config

    def contains(self, config: Config) -> bool:
        """True when every free pair is in :attr:`choices` (searchers only propose these)."""
        ch = set(self.choices)
        return all(config[i] in ch for i in self.free)

    def describe(self) -> dict:
        """JSON-able description (stored as provenance)."""
        return {"layers": [ly.name for ly in self.layers], "w_bits": list(self.w_bits),
                "a_bits": list(self.a_bits), "pinned": list(self.pinned),
                "pin_bits": self.pin_bits, "size": self.size}


def config_label(config: Config) -> str:
    """'8/8 4/2 2/6 8/8' (w/a per layer)."""
    return " ".join(f"{w}/{a}" for w, a in config)
