"""The square roots of a step: torch's own sqrt kernel (MKL's vm?Sqrt) found in its CPU build and
called on a whole step's radicands, and the check that a step's radicands are bit for bit those
already rooted (then the roots are reused). The scalar arithmetic of the rules (casts, fma, lerp)
is `src.optimizers.numerics`."""

from __future__ import annotations

import ctypes
import functools
import math
from pathlib import Path

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

VML_MODE = 0x2 | 0x100  # VML_HA | VML_ERRMODE_IGNORE, as ATen calls it


@functools.cache
def torch_sqrt(dtype: type) -> int:
    """The address of the sqrt kernel torch's CPU build uses for `dtype` (MKL's vm?Sqrt), if this
    build has it and it agrees with torch.sqrt on a probe; else 0 (then √ is correctly rounded)."""
    name = "vmsSqrt_64" if dtype == np.float32 else "vmdSqrt_64"
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        function = getattr(library, name)
    except (OSError, AttributeError):
        return 0
    address = ctypes.cast(function, ctypes.c_void_p).value or 0
    probe = np.random.default_rng(0).uniform(0, 1e5, 4096).astype(dtype)
    roots = np.zeros_like(probe)
    sqrt_all(address, len(probe), probe, roots)
    return address if np.array_equal(roots, torch.from_numpy(probe).sqrt().numpy()) else 0


@intrinsic
def _call_sqrt(typingctx, function, n, source, target, mode):  # noqa: PLR0917
    """Call the C function at address `function` as f(n, source*, target*, mode), all int64."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        pointer = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i64, pointer, pointer, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(
            fn,
            [
                args[1],
                builder.inttoptr(args[2], pointer),
                builder.inttoptr(args[3], pointer),
                args[4],
            ],
        )
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def sqrt_all(sqrt_fn, n, radicands, roots, radicands_at=0, roots_at=0):
    """roots[:n] = √radicands[:n], with torch's own sqrt kernel when it is known (MKL's).
    `radicands_at`/`roots_at`: the arrays' addresses, if the caller has them (a hot loop)."""
    if sqrt_fn != 0:
        if radicands_at == 0:
            radicands_at, roots_at = radicands.ctypes.data, roots.ctypes.data
        _call_sqrt(sqrt_fn, n, radicands_at, roots_at, VML_MODE)
    else:
        for r in range(n):
            roots[r] = math.sqrt(radicands[r])


@numba.njit(cache=True)
def same_bits(bits, known_bits, R):
    """Whether bits[:R] == known_bits[:R] and known_bits[R] != 0 (the known values are valid)."""
    differ = bits[0] ^ bits[0]  # an integer OR of XORs, which vectorises
    for r in range(R):
        differ |= bits[r] ^ known_bits[r]
    return known_bits[R] != 0 and differ == 0
