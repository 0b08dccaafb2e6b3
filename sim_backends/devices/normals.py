"""Standard normal draws for the array kernels from numpy's bit stream.

`normals_from_bits`: inverse-CDF normals of 32-bit words; `standard_normal`: n draws from
a Generator's ``random_raw`` stream.  For numpy's default bit generator, PCG64 is stepped
inside numba (`pcg64_reserve`, `pcg64_fill`, `pcg64_normals`: the ``random_raw`` stream,
bit for bit, with jumps so that blocks of it are drawn on the kernel threads), so no bits
buffer is made and the Generator ends in the state ``random_raw`` leaves.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from hil.threads import split_run
from sim_backends.devices.fastmath import normal_of_word

__all__ = ["normals_from_bits", "pcg64_advance", "pcg64_fill", "pcg64_normals", "pcg64_reserve",
           "standard_normal"]


#: values per parallel block of `normals_from_bits` / `pcg64_normals` (even: a block starts
#: on a 64-bit output); fixed, so the result never depends on the thread count
_NBLOCK = 4096


def normals_from_bits(bits: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (float32, C-contiguous, n values) with standard normal draws from the
    random 32-bit words ``bits`` (uint32, at least n): the top 24 bits of ``bits[i]`` give
    the uniform u = (k + 1/2) 2^-24 and ``out[i]`` is its normal quantile (inverse-CDF
    sampling: exact in distribution up to the 2^-24 grid and float32 rounding,
    |z| <= 5.42).  Vectorizes (with the bits from ``Generator.bit_generator.random_raw``
    about 2x cheaper than numpy's float32 ziggurat, benchmarks/bench_array.py); blocks of
    `_NBLOCK` values on the kernel threads (`split_run`; each value depends on its own word
    only: the same for any split)."""
    flat = out.reshape(-1)
    split_run(_bits_blocks, -(-flat.size // _NBLOCK), flat.size, bits, flat)


@njit(cache=True, nogil=True, error_model="numpy")
def _bits_blocks(b0, b1, bits, flat):
    """`normals_from_bits` of the blocks ``b0:b1`` of the flat output."""
    for b in range(b0, b1):
        j0 = b * _NBLOCK
        ob, wb = flat[j0:j0 + _NBLOCK], bits[j0:j0 + _NBLOCK]
        for i in range(ob.size):     # from 0 on slices: no index wraparound, vectorizes
            ob[i] = normal_of_word(wb[i])


_MUL_HI = np.uint64(2549297995355413924)    # PCG64's 128-bit LCG multiplier, high word
_MUL_LO = np.uint64(4865540595714422341)    # ... and low word


@intrinsic
def _mul128(typingctx, ah, al, bh, bl):   # noqa: ARG001
    """(ah 2^64 + al)(bh 2^64 + bl) mod 2^128 as (high, low) uint64 words: one LLVM i128
    multiply (three x86-64 multiplies; the multiplier port bounds a PCG64 step)."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 2)(u64, u64, u64, u64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        sh = ir.Constant(i128, 64)

        def wide(h, lo):
            return builder.or_(builder.shl(builder.zext(h, i128), sh), builder.zext(lo, i128))
        p = builder.mul(wide(args[0], args[1]), wide(args[2], args[3]))
        i64 = ir.IntType(64)
        hi, lo = builder.trunc(builder.lshr(p, sh), i64), builder.trunc(p, i64)
        return context.make_tuple(builder, signature.return_type, [hi, lo])
    return sig, codegen


@njit(inline="always", cache=True)
def _add128(ah, al, bh, bl):
    """(ah 2^64 + al) + (bh 2^64 + bl) mod 2^128 as (high, low) uint64 words."""
    lo = al + bl
    return ah + bh + np.uint64(lo < al), lo


@njit(cache=True, nogil=True)
def pcg64_jump(ih, il, delta):
    """The affine map (A, C) of ``delta`` (uint64) PCG64 LCG steps with increment (ih, il):
    state -> A state + C mod 2^128, A = M^delta, C = inc (M^(delta-1) + ... + 1), by
    squaring (F. B. Brown, "Random number generation with arbitrary strides", 1994; the
    jump of ``numpy.random.PCG64.advance``).  Returns (A_high, A_low, C_high, C_low)."""
    acc_mh, acc_ml = np.uint64(0), np.uint64(1)
    acc_ph, acc_pl = np.uint64(0), np.uint64(0)
    cur_mh, cur_ml = _MUL_HI, _MUL_LO
    cur_ph, cur_pl = ih, il
    d = np.uint64(delta)
    while d > np.uint64(0):
        if d & np.uint64(1):
            acc_mh, acc_ml = _mul128(acc_mh, acc_ml, cur_mh, cur_ml)
            acc_ph, acc_pl = _mul128(acc_ph, acc_pl, cur_mh, cur_ml)
            acc_ph, acc_pl = _add128(acc_ph, acc_pl, cur_ph, cur_pl)
        th, tl = _add128(cur_mh, cur_ml, np.uint64(0), np.uint64(1))
        cur_ph, cur_pl = _mul128(th, tl, cur_ph, cur_pl)
        cur_mh, cur_ml = _mul128(cur_mh, cur_ml, cur_mh, cur_ml)
        d = d >> np.uint64(1)
    return acc_mh, acc_ml, acc_ph, acc_pl


@njit(inline="always", cache=True)
def _affine128(ah, al, ch, cl, sh, sl):
    """A s + C mod 2^128 (words high, low)."""
    h, lo = _mul128(ah, al, sh, sl)
    return _add128(h, lo, ch, cl)


@njit(cache=True, nogil=True)
def pcg64_advance(sh, sl, ih, il, delta):
    """PCG64's LCG state (sh, sl) moved ``delta`` (uint64) steps ahead with increment
    (ih, il) (`pcg64_jump`; unlike ``PCG64.advance``, the buffered 32 bits are not
    touched).  Returns (high, low)."""
    ah, al, ch, cl = pcg64_jump(ih, il, delta)
    return _affine128(ah, al, ch, cl, sh, sl)


def pcg64_normals(pcg: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (float32, C-contiguous, n values) with the normal draws that
    `normals_from_bits` makes from ``random_raw(ceil(n / 2)).view(np.uint32)`` of a PCG64
    whose LCG state and increment are ``pcg`` = [state_high, state_low, inc_high, inc_low]
    (uint64; `pcg64_reserve`): output i = XSL-RR of the state after i + 1 steps, value 2i
    from its low 32-bit word, 2i + 1 from its high word (little endian, as numpy's view).
    Every block of outputs jumps to its own start (`pcg64_advance`), so the blocks run on
    the kernel threads (`split_run`) and the values are the same for any split."""
    flat = out.reshape(-1)
    split_run(_pcg64_blocks, -(-flat.size // _NBLOCK), flat.size, pcg, flat)


@njit(cache=True, nogil=True, error_model="numpy")
def _pcg64_blocks(b0, b1, pcg, flat):
    """`pcg64_normals` of the blocks ``b0:b1`` of the flat output."""
    words = np.empty(_NBLOCK, np.uint32)
    vals = np.empty(_NBLOCK, np.float32)
    n_raw = (flat.size + 1) // 2
    half = _NBLOCK // 2
    for b in range(b0, b1):
        r0 = b * half
        m = min(half, n_raw - r0)
        h, lo = pcg64_advance(pcg[0], pcg[1], pcg[2], pcg[3], np.uint64(r0))
        pcg64_fill(h, lo, pcg[2], pcg[3], words, vals, 2 * m)
        ob = flat[2 * r0:2 * (r0 + m)]    # the last block drops a high word when n is odd
        for i in range(ob.size):
            ob[i] = vals[i]


@njit(cache=True, nogil=True, error_model="numpy")    # called once per block: not inlined
def pcg64_fill(h, lo, ih, il, words, vals, m):
    """The next ``m`` (even) normal draws of a PCG64 in LCG state (h, lo), increment
    (ih, il), into ``vals[:m]`` (``words``: uint32 scratch of at least m), as
    `normals_from_bits` of its next m / 2 ``random_raw`` outputs; returns the state after."""
    for i in range(m // 2):    # a serial chain (~5 cycles per step: the multiply latency)
        h, lo = _pcg64_step(h, lo, ih, il)
        _put_words(words, 2 * i, h, lo)
    for i in range(m):         # vectorizes
        vals[i] = normal_of_word(words[i])
    return h, lo


@njit(inline="always", cache=True)
def _pcg64_step(h, lo, ih, il):
    """One PCG64 LCG step: state * M + inc mod 2^128."""
    h, lo = _mul128(h, lo, _MUL_HI, _MUL_LO)
    return _add128(h, lo, ih, il)


@njit(inline="always", cache=True)
def pcg64_output(h, lo):
    """The XSL-RR output of LCG state (h, lo): the 64 bits ``random_raw`` gives."""
    v = h ^ lo
    rot = h >> np.uint64(58)
    return (v >> rot) | (v << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(inline="always", cache=True)
def _put_words(words, j, h, lo):
    """`pcg64_output` of LCG state (h, lo) as two 32-bit words at ``words[j]``, ``[j + 1]``
    (low word first)."""
    w = pcg64_output(h, lo)
    words[j] = np.uint32(w & np.uint64(0xFFFFFFFF))
    words[j + 1] = np.uint32(w >> np.uint64(32))


_MASK64 = (1 << 64) - 1


def pcg64_reserve(rng: np.random.Generator, n: int) -> np.ndarray | None:
    """For a PCG64 generator (numpy's default): its LCG state and increment as uint64
    [state_high, state_low, inc_high, inc_low] (the start of the next n normal draws,
    `pcg64_normals` / `pcg64_fill`), with the generator moved past them, as ``random_raw``
    of ceil(n / 2) outputs would (its buffered 32 bits kept).  None for other bit
    generators (draw through ``random_raw``)."""
    bg = rng.bit_generator
    if type(bg) is not np.random.PCG64:
        return None
    st = bg.state
    lcg = st["state"]
    s, inc = int(lcg["state"]), int(lcg["inc"])
    words = np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64], np.uint64)
    h, lo = pcg64_advance(words[0], words[1], words[2], words[3], np.uint64((n + 1) // 2))
    lcg["state"] = (int(h) << 64) | int(lo)
    bg.state = st
    return words


def standard_normal(rng: np.random.Generator, out: np.ndarray) -> np.ndarray:
    """Fill the float32 C-contiguous ``out`` with standard normal draws from ``rng``'s bit
    stream (`normals_from_bits` of ``random_raw(ceil(n / 2)).view(np.uint32)``: n draws
    consume ceil(n / 2) 64-bit outputs); returns out.  A PCG64 generator (numpy's default)
    is stepped inside the kernel (`pcg64_normals`, in parallel, no bits buffer) with the
    same values and the same final state, buffered 32 bits included; other bit generators
    go through ``random_raw``."""
    pcg = pcg64_reserve(rng, out.size)
    if pcg is not None:
        pcg64_normals(pcg, out)
        return out
    n = out.size
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)
    normals_from_bits(bits, out)
    return out
