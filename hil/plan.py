"""`PulsePlan`: one programming request compiled once into the physical pulses it takes.

A request (mask, amplitudes, device card, scheme) becomes the ordered list of physical
pulses, each with the voltage of every line, the amplitudes rounded to the DAC step once.
Everything that programs cells executes a plan: the simulator (vectorized, every row
stamped with its own pulse time), the lab wirings (pulse by pulse, or one firmware
PROGRAM whose pulse counter must match the plan), the array-controller emulator, and a
dry run.  `Backend.pulse_cells` returns the plan it applied.

Schemes (REFERENCE §2, MTT Fig. 5a, Fig. S25a):

``h1e1t-rows`` (H-1E1T ECRAM, row-wise; the default)
    potentiate row i at V_P: EG_i = V_P, ED_i = V_D, TG = 0 on targets, V_SS elsewhere;
    depress row i at |V|:    EG_i = 0,   ED_i = |V|, TG = V_SS on targets, 0 elsewhere;
    all other rows EG = ED = 0; ES = 0.
``h1e1t-cols`` (H-1E1T, column-wise)
    pulse column k: EG = V_P (0 to depress) and ED = V_D (|V| to depress) on the rows with a
    target in column k, 0 on the others; TG_k = 0 (V_SS to depress), every other column
    V_SS (0 to depress); ES = 0.
``1t1r-V/2``, ``1t1r-V/3`` (1T1R RRAM, row-wise)
    set row i at V: WL_i = V_WL,set, SL = 0, BL = V on targets, V/2 (V/3) elsewhere;
    reset row i at |V|: WL_i = V_WL,reset, SL_i = |V|, BL = 0 on targets, |V|/2 (2|V|/3)
    elsewhere; all other rows WL = 0.

Order of the pulses: the potentiation (set) phase, then the depression (reset) phase; in
each, amplitudes ascending, and for one amplitude the driven lines (rows or columns)
ascending.  ``row_block = n`` (firmware PROGRAM in blocks of rows that fit one frame)
runs that order block by block.  A row's pulses keep their order either way, which is
what lets the simulator pulse the k-th pulses of all rows in one pass exactly (a row-wise
pulse leaves every other H-1E1T row at exactly 0 V).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from hil.backend import Lines
from hil.errors import ParameterError

#: DAC step of every programming amplitude (V): amplitudes are rounded to it once, here
DAC_RESOLUTION_V = 1e-3
#: row-mate bit-line fractions (set, reset) of the 1T1R half-select schemes
RRAM_FRACTIONS = {"V/2": (0.5, 0.5), "V/3": (1.0 / 3.0, 2.0 / 3.0)}
SCHEMES = ("h1e1t-rows", "h1e1t-cols", "1t1r-V/2", "1t1r-V/3")


def scheme_for(card: Mapping[str, Any], program_by: str | None = None,
               rram_scheme: str | None = None) -> str:
    """The plan scheme of a device card: H-1E1T (``program_by`` "rows" | "cols") for ECRAM
    cards, 1T1R (``rram_scheme`` "V/2" | "V/3", default the card's ``array.scheme``) for RRAM."""
    kind = card.get("kind")
    if kind == "ecram":
        by = program_by or "rows"
        if by not in ("rows", "cols"):
            raise ParameterError(f"program_by {by!r}; allowed: 'rows', 'cols'")
        return f"h1e1t-{by}"
    if kind == "rram":
        s = rram_scheme or str(card.get("array", {}).get("scheme", "V/2"))
        if s not in RRAM_FRACTIONS:
            raise ParameterError(f"1T1R scheme {s!r}; allowed: {', '.join(RRAM_FRACTIONS)}")
        return f"1t1r-{s}"
    raise ParameterError(f"device card {card.get('name')!r} of kind {kind!r} has no programming "
                         "scheme; allowed kinds: 'ecram' (H-1E1T), 'rram' (1T1R)")


def scheme_levels(card: Mapping[str, Any], scheme: str) -> dict[str, float]:
    """The fixed line levels a scheme takes from the card (V, or fractions for 1T1R)."""
    try:
        if scheme.startswith("h1e1t"):
            h = card["h1e1t"]
            return {"v_d_V": float(h["v_d_V"]), "v_ss_V": float(h["v_ss_V"])}
        if scheme.startswith("1t1r"):
            a = card["array"]
            f_set, f_reset = RRAM_FRACTIONS[scheme[5:]]
            return {"v_wl_set_V": float(a["v_wl_set_V"]), "v_wl_reset_V": float(a["v_wl_reset_V"]),
                    "f_set": f_set, "f_reset": f_reset}
    except KeyError as exc:
        raise ParameterError(f"device card {card.get('name')!r} lacks {exc.args[0]!r} needed by "
                             f"the {scheme!r} programming scheme") from None
    raise ParameterError(f"programming scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")


def dac_codes(amplitude_V: Any, shape: tuple[int, int]) -> np.ndarray:
    """Amplitudes (scalar or per cell) as signed DAC codes (int64), broadcast to ``shape``."""
    try:
        amp = np.broadcast_to(np.asarray(amplitude_V, dtype=np.float64), shape)
    except ValueError:
        raise ParameterError(f"amplitude_V of shape {np.shape(amplitude_V)} does not broadcast "
                             f"to {shape}") from None
    if not np.all(np.isfinite(amp)):
        raise ParameterError("amplitude_V must be finite")
    if not any(amp.strides):    # one value for every cell: round it once
        return np.broadcast_to(np.int64(np.rint(amp.flat[0] / DAC_RESOLUTION_V)), shape)
    return np.rint(amp / DAC_RESOLUTION_V).astype(np.int64)


@dataclass(frozen=True, eq=False)
class PulsePlan:
    """The physical pulses of one programming request, in the order they are applied.

    Pulse k drives line ``line[k]`` (a row for row-wise schemes, a column for ``h1e1t-cols``)
    with polarity ``polarity[k]`` (+1 potentiate/set, -1 depress/reset) at amplitude
    ``code[k] * dac_V``; its targets are the cells of that line whose signed code is
    ``polarity[k] * code[k]`` (`targets`).  `lines(k)` gives every line's voltage.
    """

    scheme: str
    shape: tuple[int, int]
    width_s: float
    codes: np.ndarray                 # (rows, cols) signed DAC code per cell, 0 = no pulse
    line: np.ndarray                  # (n,) driven row / column of each pulse
    polarity: np.ndarray              # (n,) +1 / -1
    code: np.ndarray                  # (n,) |amplitude| in DAC steps
    levels: Mapping[str, float] = field(default_factory=dict)
    row_block: int | None = None
    dac_V: float = DAC_RESOLUTION_V

    # -- what it is ----------------------------------------------------------------------
    @property
    def n_pulses(self) -> int:
        return int(self.line.size)

    def __len__(self) -> int:
        return self.n_pulses

    @property
    def row_wise(self) -> bool:
        return self.scheme != "h1e1t-cols"

    @property
    def duration_s(self) -> float:
        """Time on the lines: pulses back to back."""
        return self.n_pulses * self.width_s

    def amplitude_V(self, k: int) -> float:
        """Signed amplitude of pulse ``k`` (DAC-rounded)."""
        return float(self.polarity[k]) * float(self.code[k]) * self.dac_V

    def targets(self, k: int) -> np.ndarray:
        """Bool targets of pulse ``k`` along its line (cols for row-wise, rows for column-wise)."""
        want = int(self.polarity[k]) * int(self.code[k])
        along = self.codes[self.line[k]] if self.row_wise else self.codes[:, self.line[k]]
        return along == want

    def start_times(self, t0_s: float) -> np.ndarray:
        """Start time of every pulse when the first starts at ``t0_s`` and each follows the
        previous one directly: accumulated pulse by pulse (float64), exactly as a clock
        advanced by one width per pulse (a bench, or the emulator's physics)."""
        steps = np.full(self.n_pulses, self.width_s)
        if steps.size:
            steps[0] = t0_s
        return np.add.accumulate(steps) if steps.size else steps

    def end_time(self, t0_s: float) -> float:
        t = float(t0_s)
        if self.n_pulses:
            t = float(self.start_times(t0_s)[-1]) + self.width_s
        return t

    # -- line voltages -------------------------------------------------------------------
    def lines(self, k: int) -> Lines:
        """Voltage on every line during pulse ``k``."""
        return scheme_lines(self.scheme, self.shape, int(self.line[k]), self.targets(k),
                            bool(self.polarity[k] > 0), float(self.code[k]) * self.dac_V,
                            self.levels)

    def __iter__(self) -> Iterator[Lines]:
        for k in range(self.n_pulses):
            yield self.lines(k)

    def max_line_V(self) -> dict[str, float]:
        """Largest |V| on each line group over the whole plan (what a dry run shows and a
        limit check compares): ``gate_rows``, ``select_cols``, ``drain``, ``source``."""
        out = {"gate_rows": 0.0, "select_cols": 0.0, "drain": 0.0, "source": 0.0}
        if not self.n_pulses:
            return out
        pot, dep = bool(np.any(self.polarity > 0)), bool(np.any(self.polarity < 0))
        vp = float(self.code[self.polarity > 0].max()) * self.dac_V if pot else 0.0
        vd = float(self.code[self.polarity < 0].max()) * self.dac_V if dep else 0.0
        lv = self.levels
        if self.scheme.startswith("h1e1t"):
            out["gate_rows"] = vp
            out["drain"] = max(lv["v_d_V"] if pot else 0.0, vd)
            out["select_cols"] = abs(lv["v_ss_V"])
        else:
            out["gate_rows"] = max(lv["v_wl_set_V"] if pot else 0.0,
                                   lv["v_wl_reset_V"] if dep else 0.0)
            out["select_cols"] = max(vp, lv["f_reset"] * vd)
            out["source"] = vd
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-able description (dry runs, logs)."""
        return {"scheme": self.scheme, "pulses": self.n_pulses, "width_s": self.width_s,
                "duration_s": self.duration_s, "max_line_V": self.max_line_V(),
                "targets": int(np.count_nonzero(self.codes))}


def scheme_lines(scheme: str, shape: tuple[int, int], line: int, targets: np.ndarray,
                 potentiate: bool, level_V: float, levels: Mapping[str, float]) -> Lines:
    """Line voltages of one pulse of ``scheme`` (module docstring) driving row / column
    ``line`` at ``level_V`` (>= 0) with bool ``targets`` along it; ``levels``: the fixed
    levels (`scheme_levels`: V_D, V_SS or the 1T1R word-line levels and fractions)."""
    rows, cols = shape
    v, tgt, i, lv = float(level_V), np.asarray(targets, bool), int(line), levels
    if scheme == "h1e1t-rows":
        eg, ed = np.zeros(rows), np.zeros(rows)
        if potentiate:
            eg[i], ed[i] = v, lv["v_d_V"]
            tg = np.where(tgt, 0.0, lv["v_ss_V"])
        else:
            ed[i] = v
            tg = np.where(tgt, lv["v_ss_V"], 0.0)
        return Lines(gate_rows=eg, select_cols=tg, drain=ed, source=0.0)
    if scheme == "h1e1t-cols":
        on = tgt.astype(float)
        eg = on * (v if potentiate else 0.0)
        ed = on * (lv["v_d_V"] if potentiate else v)
        tg = np.full(cols, lv["v_ss_V"] if potentiate else 0.0)
        tg[i] = 0.0 if potentiate else lv["v_ss_V"]
        return Lines(gate_rows=eg, select_cols=tg, drain=ed, source=0.0)
    if scheme in ("1t1r-V/2", "1t1r-V/3"):
        wl, sl = np.zeros(rows), np.zeros(rows)
        if potentiate:
            wl[i] = lv["v_wl_set_V"]
            bl = np.where(tgt, v, lv["f_set"] * v)
        else:
            wl[i], sl[i] = lv["v_wl_reset_V"], v
            bl = np.where(tgt, 0.0, lv["f_reset"] * v)
        return Lines(gate_rows=wl, select_cols=bl, drain=0.0, source=sl)
    raise ParameterError(f"programming scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")


def compile_plan(mask: np.ndarray, amplitude_V: Any, card: Mapping[str, Any], scheme: str,
                 width_s: float, *, row_block: int | None = None) -> PulsePlan:
    """Compile a programming request into its `PulsePlan` (see the module docstring).

    ``mask``: bool (rows, cols); ``amplitude_V``: scalar or per cell (> 0 potentiates/sets,
    < 0 depresses/resets, rounded to `DAC_RESOLUTION_V`; 0 after rounding = no pulse);
    ``row_block``: order the pulses block of rows by block (firmware PROGRAM frames).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise ParameterError(f"mask must be a 2-D bool array; got {mask.dtype} {mask.shape}")
    shape = (int(mask.shape[0]), int(mask.shape[1]))
    levels = scheme_levels(card, scheme)
    width_s = float(width_s)
    from hil.plan_kernel import level_lines, masked_codes   # numba: loaded on first use

    amp = np.asarray(amplitude_V)
    if amp.shape == shape and amp.dtype == np.float64:    # a per-cell map: one fused pass
        scalar = False
        codes, finite, row_max = masked_codes(amp, mask, DAC_RESOLUTION_V)
        if not finite:
            raise ParameterError("amplitude_V must be finite")
    else:
        row_max = None
        raw = dac_codes(amplitude_V, shape)
        scalar = not any(raw.strides)
        if scalar:                        # one amplitude: one phase, one level
            c = int(raw.flat[0])
            codes = np.where(mask, np.int32(c), np.int32(0)) if c else np.zeros(shape, np.int32)
        else:
            codes = np.where(mask, raw, 0).astype(np.int32)
    if row_block is not None and (int(row_block) < 1 or scheme == "h1e1t-cols"):
        raise ParameterError(f"row_block {row_block!r}: needs a row-wise scheme and >= 1 row")
    blocks = [(0, shape[0])] if row_block is None else [
        (r0, min(r0 + int(row_block), shape[0])) for r0 in range(0, shape[0], int(row_block))]
    by_cols = scheme == "h1e1t-cols"
    lines, pols, cds = [], [], []

    def add(ln: np.ndarray, pol: int, lv: Any, r0: int) -> None:
        lines.append(ln + (0 if by_cols else r0))
        pols.append(np.full(ln.size, pol, np.int8))
        cds.append(np.broadcast_to(np.asarray(lv, np.int64), ln.shape))

    for r0, r1 in blocks:
        sub = codes[r0:r1].T if by_cols else codes[r0:r1]   # one pulse per (level, line)
        if scalar:
            if c:
                add(np.flatnonzero(mask[r0:r1].any(axis=0 if by_cols else 1)),
                    1 if c > 0 else -1, abs(c), r0)
            continue
        if not sub.size:
            max_code = 0
        elif row_max is not None:     # |code| maxima of the fused pass (rows; one block if by_cols)
            max_code = int(row_max[r0:r1].max())
        else:
            max_code = int(np.abs(sub).max())
        up, on_up, down, on_down = level_lines(sub, max_code)
        for pol, present, on in ((1, up, on_up), (-1, down, on_down)):
            if present.size <= 64:     # few levels: the lines of each level in turn
                for j, lv in enumerate(present):
                    add(np.flatnonzero(on[:, j]), pol, lv, r0)
            else:                      # many levels: (level, line) pairs, level-major
                lv_j, ln = np.nonzero(on.T)
                add(ln, pol, present[lv_j], r0)
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.empty(0, dt))
    return PulsePlan(scheme=scheme, shape=shape, width_s=width_s, codes=codes,
                     line=cat(lines, np.int64), polarity=cat(pols, np.int8), code=cat(cds, np.int64),
                     levels=levels, row_block=None if row_block is None else int(row_block))


def row_passes(plan: PulsePlan) -> Iterator[tuple[bool, np.ndarray, np.ndarray]]:
    """Group a row-wise plan into passes a vectorized simulator can apply at once.

    Yields (potentiate, rows ascending, plan indices of their pulses): pass (phase, k) holds
    the k-th pulse of that phase of every row that has one.  Rows of one pass are distinct
    and each row's pulses keep their order, so with every row stamped with its own pulse
    time the result equals pulsing the plan one pulse after another.
    """
    if not plan.row_wise:
        raise ParameterError(f"row_passes needs a row-wise plan; got {plan.scheme!r}")
    for pol in (1, -1):
        idx = np.flatnonzero(plan.polarity == pol)
        if idx.size == 0:
            continue
        rows = plan.line[idx]
        order = np.argsort(rows, kind="stable")         # by row, plan order within a row
        idx, rows = idx[order], rows[order]
        first = np.r_[True, rows[1:] != rows[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(rows.size), 0))
        rank = np.arange(rows.size) - start
        if not rank.any():
            yield pol > 0, rows, idx
            continue
        by_rank = np.argsort(rank, kind="stable")       # rows stay ascending inside a rank
        bounds = np.flatnonzero(np.r_[True, np.diff(rank[by_rank]) != 0, True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            sel = by_rank[a:b]
            yield pol > 0, rows[sel], idx[sel]
