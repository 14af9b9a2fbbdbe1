"""The Python side of the formats interop test, with the real libraries:
safetensors, numpy and ml_dtypes.

  formats_peer.py write DIR   write files of every dtype with Python, and
                              DIR/expected.json: each array's dtype, shape
                              and little-endian C-order bytes (hex)
  formats_peer.py check DIR   read the files the TypeScript side wrote into
                              DIR, compare them with its DIR/expected.json,
                              print one line "ok N" (or raise)
"""
import json
import os
import sys

import ml_dtypes
import numpy as np
import safetensors.numpy
from safetensors import safe_open

DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint64": np.uint64,
    "uint32": np.uint32,
    "uint16": np.uint16,
    "uint8": np.uint8,
    "bool": np.bool_,
}
SHAPES = {"": (3, 5), "_scalar": (), "_empty": (0, 4)}


def arrays():
    """Every dtype in three shapes, from seeded random bytes: NaN payloads, -0, infinities and subnormals come along."""
    rng = np.random.default_rng(20261202)
    out = {}
    for name, dt in DTYPES.items():
        for suffix, shape in SHAPES.items():
            n = int(np.prod(shape))
            size = np.dtype(dt).itemsize
            raw = np.frombuffer(rng.bytes(n * size), dtype=np.uint8)
            if name == "bool":
                raw = raw & 1
            out[name + suffix] = raw.view(dt).reshape(shape)
    return out


def describe(a):
    le = a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a
    return {"dtype": a.dtype.name, "shape": list(a.shape), "hex": np.ascontiguousarray(le).tobytes().hex()}


def write(d):
    a = arrays()
    safetensors.numpy.save_file(a, os.path.join(d, "py.safetensors"), metadata={"format": "np", "writer": "safetensors-python"})
    os.makedirs(os.path.join(d, "npy"), exist_ok=True)
    for k, v in a.items():
        np.save(os.path.join(d, "npy", k + ".npy"), v)
    np.savez(os.path.join(d, "py_savez.npz"), **a)
    np.savez_compressed(os.path.join(d, "py_savez_compressed.npz"), **a)
    # Format versions 2.0 and 3.0, big-endian data and Fortran order.
    m = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(1.5) - np.float32(7)
    extra = {"v2": m, "v3": m, "big_endian": m.astype(">f4"), "big_endian_i64": np.arange(-5, 5, dtype=">i8").reshape(2, 5), "fortran": np.asfortranarray(m)}
    for k, v in extra.items():
        with open(os.path.join(d, "npy", k + ".npy"), "wb") as f:
            version = (2, 0) if k == "v2" else (3, 0) if k == "v3" else None
            np.lib.format.write_array(f, v, version=version)
    with open(os.path.join(d, "npy", "fortran.npy"), "rb") as f:
        assert b"'fortran_order': True" in f.read(128), "numpy did not write Fortran order"
    expected = {k: describe(v) for k, v in {**a, **extra}.items()}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"metadata": {"format": "np", "writer": "safetensors-python"}, "arrays": expected, "extra": list(extra)}, f)
    print("ok", len(expected))


def same(name, a, want):
    got = describe(a)
    for key in ("dtype", "shape", "hex"):
        if got[key] != want[key]:
            raise SystemExit(f"{name}: {key} is {str(got[key])[:80]}, expected {str(want[key])[:80]}")


def check(d):
    with open(os.path.join(d, "expected.json")) as f:
        spec = json.load(f)
    want = spec["arrays"]
    n = 0
    loaded = safetensors.numpy.load_file(os.path.join(d, "js.safetensors"))
    with safe_open(os.path.join(d, "js.safetensors"), framework="np") as f:
        if f.metadata() != spec["metadata"]:
            raise SystemExit(f"js.safetensors metadata is {f.metadata()}, expected {spec['metadata']}")
    if sorted(loaded) != sorted(want):
        raise SystemExit(f"js.safetensors has {sorted(loaded)}")
    for k, v in loaded.items():
        same("js.safetensors " + k, v, want[k])
        n += 1
    for k in want:
        same(f"npy/{k}.npy", np.load(os.path.join(d, "npy", k + ".npy")), want[k])
        n += 1
    for z in ("js_stored.npz", "js_deflated.npz"):
        with np.load(os.path.join(d, z)) as npz:
            if sorted(npz.files) != sorted(want):
                raise SystemExit(f"{z} has {npz.files}")
            for k in want:
                same(f"{z} {k}", npz[k], want[k])
                n += 1
    print("ok", n)


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2])
