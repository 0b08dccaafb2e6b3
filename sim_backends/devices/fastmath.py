"""float32 ``exp`` and ``log`` for numba kernels that the compiler can vectorize.

libm's ``expf``/``logf`` are opaque calls, so a loop that uses them runs one element at a
time (~5 ns per call here); these are the Cephes single-precision polynomials written with
bit casts (LLVM intrinsics), so a loop of them compiles to SIMD code (2.5-4x faster,
benchmarks/bench_array.py).  Accuracy: within 1.5e-7 relative of the exact value on their
domain (tests/test_perf_equivalence_ecram.py), the same as numpy's float32 loops.
Domains: `expf` clamps its argument to [-87.3, 88.7] (results between 1.2e-38 and 3.3e38,
never 0 or inf); `logf` needs a positive normal number.  Also the normal quantile of a
32-bit word (`normal_of_word`), from which `sim_backends.devices.normals` draws.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["expf", "logf", "normal_of_word"]


@intrinsic
def _f32_bits(typingctx, x):   # noqa: ARG001 (numba intrinsic signature)
    """The bits of a float32 as int32 (a free register move)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _bits_f32(typingctx, i):   # noqa: ARG001
    """The float32 with the bits of an int32."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@njit(inline="always", cache=True)
def expf(x):
    """e**x for float32 ``x`` (Cephes expf: x = n ln 2 + r, degree-5 polynomial in r)."""
    x = min(max(x, np.float32(-87.3)), np.float32(88.7))
    n = np.floor(x * np.float32(1.44269504088896341) + np.float32(0.5))   # float32
    r = x - n * np.float32(0.693359375) + n * np.float32(2.12194440e-4)
    z = r * r
    p = ((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r
           + np.float32(8.3334519073e-3)) * r + np.float32(4.1665795894e-2)) * r
         + np.float32(1.6666665459e-1)) * r + np.float32(5.0000001201e-1)
    p = p * z + r + np.float32(1.0)
    return p * _bits_f32(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))


@njit(inline="always", cache=True)
def logf(x):
    """Natural log of a positive normal float32 (Cephes logf: mantissa in [sqrt(1/2),
    sqrt(2)), degree-9 polynomial)."""
    i = _f32_bits(x)
    e = ((i >> np.int32(23)) & np.int32(255)) - np.int32(126)
    m = _bits_f32((i & np.int32(0x007FFFFF)) | np.int32(0x3F000000))   # in [0.5, 1)
    small = m < np.float32(0.707106781186547524)
    e = e - np.int32(1) if small else e
    m = m + m - np.float32(1.0) if small else m - np.float32(1.0)
    z = m * m
    y = ((((((((np.float32(7.0376836292e-2) * m - np.float32(1.1514610310e-1)) * m
               + np.float32(1.1676998740e-1)) * m - np.float32(1.2420140846e-1)) * m
             + np.float32(1.4249322787e-1)) * m - np.float32(1.6668057665e-1)) * m
           + np.float32(2.0000714765e-1)) * m - np.float32(2.4999993993e-1)) * m
         + np.float32(3.3333331174e-1)) * m * z
    fe = np.float32(e)
    y = y + fe * np.float32(-2.12194440e-4)
    y = y - np.float32(0.5) * z
    return m + y + fe * np.float32(0.693359375)


@njit(inline="always", cache=True)
def _probit(u, v):
    """sqrt(2) erfinv(2u - 1): the standard normal quantile of ``u`` in (0, 1), with
    ``v`` = 1 - u given exactly (float32; Giles 2010 single-precision erfinv, branch-free)."""
    x = u - v
    w = -logf(np.float32(4.0) * u * v)   # -log((1 - x)(1 + x)) without cancellation
    wc = w - np.float32(2.5)
    p = np.float32(2.81022636e-08)
    p = np.float32(3.43273939e-07) + p * wc
    p = np.float32(-3.5233877e-06) + p * wc
    p = np.float32(-4.39150654e-06) + p * wc
    p = np.float32(0.00021858087) + p * wc
    p = np.float32(-0.00125372503) + p * wc
    p = np.float32(-0.00417768164) + p * wc
    p = np.float32(0.246640727) + p * wc
    p = np.float32(1.50140941) + p * wc
    wt = np.sqrt(w) - np.float32(3.0)
    q = np.float32(-0.000200214257)
    q = np.float32(0.000100950558) + q * wt
    q = np.float32(0.00134934322) + q * wt
    q = np.float32(-0.00367342844) + q * wt
    q = np.float32(0.00573950773) + q * wt
    q = np.float32(-0.0076224613) + q * wt
    q = np.float32(0.00943887047) + q * wt
    q = np.float32(1.00167406) + q * wt
    q = np.float32(2.83297682) + q * wt
    return np.float32(1.41421356237) * (p if w < np.float32(5.0) else q) * x


@njit(inline="always", cache=True)
def normal_of_word(word):
    """The normal draw `normals_from_bits` makes from one 32-bit word (uint32)."""
    k = np.float32(np.int32(word >> np.uint32(8)))
    return _probit(k * np.float32(2.0 ** -24) + np.float32(2.0 ** -25),
                   (np.float32(2.0 ** 24 - 1) - k) * np.float32(2.0 ** -24) + np.float32(2.0 ** -25))
