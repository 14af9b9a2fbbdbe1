"""What the Python peers of the interop tests send: the bit patterns and the
Harmonics record encoding, written independently of the TypeScript side
(which builds the same with bitPatternTensor in @harmonics/conformance)."""
import struct

import numpy as np


def pattern(shape, mult):
    """float32 whose bits are (i * mult) mod 2^32: NaNs with payloads, -0, denormals, all kept bit for bit."""
    n = int(np.prod(shape))
    bits = (np.arange(n, dtype=np.uint64) * mult) & 0xFFFFFFFF
    return bits.astype(np.uint32).view(np.float32).reshape(shape)


def record(a):
    """A float32 array as a Harmonics record: dtype u8 (float32: 0), ndim u32, dims u32 x ndim, byteLength u32, data; little-endian."""
    data = a.astype("<f4").tobytes()
    return struct.pack("<BI", 0, a.ndim) + struct.pack(f"<{a.ndim}I", *a.shape) + struct.pack("<I", len(data)) + data
