"""Loading and calling a GraphCompiler library (NAME_run / NAME_run_device) through ctypes.

Shared by check.py and bench.py; needs only NumPy (torch only where device pointers are used).
The ABI: int32_t NAME_run(void** args, void** results, void* arena, int32_t threads), arena of
NAME_arena_size() bytes, 64-byte aligned, host memory (for NAME_run_device too; only the
args/results are device pointers there).
"""
import ctypes
import json
import os
import zlib

import numpy as np

# IR element type name -> NumPy dtype (bf16 travels as uint16 bit patterns, bool as one byte).
NP_DTYPES = {
    "f32": np.float32, "f64": np.float64, "f16": np.float16, "bf16": np.uint16, "bool": np.bool_,
    "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
}


# splitmix64's constants (Steele, Lea and Flood 2014), as uint64 scalars: NumPy 1.x would turn a Python int
# above 2^63 mixed with a uint64 array into float64.
_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_DRAW_CHUNK = 1 << 22


def draw_uniform(name, shape, low, high):
    """f32 values uniform in [low, high): element i of tensor NAME is splitmix64(crc32(NAME)·2^32 + i).

    Integer arithmetic then one f64 multiply-add per element, so the development machine (where the reference
    interpreter runs on these values) and the GPU machine draw bit-identical tensors whatever their NumPy
    versions; weights never travel, only their names, shapes and ranges."""
    n = int(np.prod(shape, dtype=np.int64))
    out = np.empty(n, dtype=np.float32)
    base = np.uint64(zlib.crc32(name.encode())) << np.uint64(32)
    lo, span = float(low), float(high) - float(low)
    for start in range(0, n, _DRAW_CHUNK):
        z = np.arange(start, min(n, start + _DRAW_CHUNK), dtype=np.uint64) + base + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z ^= z >> np.uint64(31)
        u = (z >> np.uint64(40)).astype(np.float64) * (1.0 / (1 << 24))
        out[start:start + len(u)] = lo + u * span
    return out.reshape(shape)


def draw_inputs(specs):
    """The arrays of a case whose inputs are drawn (a spec with 'low' and 'high'), in argument order."""
    return [draw_uniform(s["name"], s["shape"], s["low"], s["high"]) for s in specs]


def kernel_table(bundle, lib):
    """NAME.kernels.tsv beside bundle/DIR/libNAME.so (gcc-cli compile --target cuda; prepare.py copies it): kernel ->
    {"op", "computes", "block"}, from the kernel's first row; {} when absent (a CPU bundle)."""
    folder, name = os.path.split(lib)
    path = os.path.join(bundle, folder, name[len("lib"):-len(".so")] + ".kernels.tsv")
    table = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f.read().splitlines()[1:]:
                cols = line.split("\t")
                if len(cols) >= 5 and cols[0] not in table:
                    table[cols[0]] = {"op": cols[1], "computes": cols[2], "block": int(cols[4])}
    return table


def load_manifest(bundle):
    with open(os.path.join(bundle, "manifest.json")) as f:
        return json.load(f)


def aligned_empty(nbytes, align=64):
    """A host buffer of nbytes, align-byte aligned (kept alive by the returned array)."""
    raw = np.empty(max(int(nbytes), 1) + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + max(int(nbytes), 1)]


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """Round to nearest even, as uint16 bit patterns."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


class Library:
    """One compiled library: its entry points and a host arena of the right size."""

    def __init__(self, path, prefix):
        self.path, self.prefix = path, prefix
        self.lib = ctypes.CDLL(os.path.abspath(path))
        sig = (ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_int32)
        self.run_fn = getattr(self.lib, prefix + "_run")
        self.run_fn.argtypes, self.run_fn.restype = sig, ctypes.c_int32
        self.run_device_fn = getattr(self.lib, prefix + "_run_device", None)
        if self.run_device_fn is not None:
            self.run_device_fn.argtypes, self.run_device_fn.restype = sig, ctypes.c_int32
        self.last_error_fn = getattr(self.lib, prefix + "_last_error", None)
        if self.last_error_fn is not None:
            self.last_error_fn.argtypes, self.last_error_fn.restype = [], ctypes.c_char_p
        size_fn = getattr(self.lib, prefix + "_arena_size")
        size_fn.argtypes, size_fn.restype = [], ctypes.c_int64
        self.arena_size = int(size_fn())
        self.arena = aligned_empty(self.arena_size)
        self.release_fn = getattr(self.lib, prefix + "_release", None)

    @property
    def has_device(self):
        return self.run_device_fn is not None

    def last_error(self):
        if self.last_error_fn is None:
            return ""
        msg = self.last_error_fn()
        return msg.decode(errors="replace") if msg else ""

    @staticmethod
    def pointers(addresses):
        return (ctypes.c_void_p * max(len(addresses), 1))(*addresses)

    def call(self, arg_ptrs, result_ptrs, device=False, threads=0):
        """Calls NAME_run (host pointers) or NAME_run_device (device pointers); returns the status."""
        fn = self.run_device_fn if device else self.run_fn
        if fn is None:
            raise RuntimeError(f"{self.prefix}_run_device is not in {self.path}")
        a, r = self.pointers(arg_ptrs), self.pointers(result_ptrs)
        return int(fn(a, r, ctypes.c_void_p(self.arena.ctypes.data), threads))

    def run_host(self, inputs, result_specs, threads=0):
        """Runs on NumPy inputs; results pre-filled with NaN (floats) or a 0x5A pattern. -> (status, results)."""
        inputs = [np.ascontiguousarray(x) for x in inputs]
        results = []
        for spec in result_specs:
            out = np.empty(spec["shape"], dtype=NP_DTYPES[spec["dtype"]])
            if spec["dtype"] in ("f32", "f64", "f16"):
                out.fill(np.nan)
            elif spec["dtype"] == "bf16":
                out.fill(0x7FC0)  # NaN
            else:
                out.reshape(-1).view(np.uint8).fill(0x5A)  # reshape: a 0-d array cannot change its dtype
            results.append(out)
        status = self.call([x.ctypes.data for x in inputs], [y.ctypes.data for y in results], False, threads)
        return status, results

    def release(self):
        if self.release_fn is not None:
            self.release_fn.argtypes, self.release_fn.restype = [], None
            self.release_fn()
