"""The pyarrow side of `pnpm bench --only flight`: pyarrow <-> pyarrow Flight, the baseline.

  flight_pyarrow.py server COUNT        a FlightServerBase; DoPut reads and drops every batch,
                                        DoGet streams COUNT 1-row batches of a [1048576] float32 tensor
  flight_pyarrow.py put PORT COUNT      DoPut COUNT such batches; prints the seconds for all but the first
  flight_pyarrow.py get PORT COUNT      DoGet them; prints the seconds from the first batch to the end
"""
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl

ELEMENTS = 1024 * 1024


def batch():
    arr = np.full((1, ELEMENTS), 0.5, dtype=np.float32)
    return pa.record_batch([pa.FixedShapeTensorArray.from_numpy_ndarray(arr)], names=["tensor"])


class Server(fl.FlightServerBase):
    def __init__(self, count):
        super().__init__("grpc://127.0.0.1:0")
        self.count = count
        self.batch = batch()

    def do_put(self, context, descriptor, reader, writer):
        for _ in reader:
            pass

    def do_get(self, context, ticket):
        b = self.batch
        return fl.GeneratorStream(b.schema, (b for _ in range(self.count)))


def main():
    mode = sys.argv[1]
    if mode == "server":
        s = Server(int(sys.argv[2]))
        print(s.port, flush=True)
        sys.stdin.readline()
        s.shutdown()
        return
    port, count = int(sys.argv[2]), int(sys.argv[3])
    client = fl.connect(f"grpc://127.0.0.1:{port}")
    if mode == "put":
        b = batch()
        writer, _ = client.do_put(fl.FlightDescriptor.for_path("tensors"), b.schema)
        writer.write_batch(b)
        t0 = time.perf_counter()
        for _ in range(count - 1):
            writer.write_batch(b)
        writer.close()
        print(time.perf_counter() - t0, flush=True)
    else:
        reader = client.do_get(fl.Ticket(b"tensors"))
        n = 0
        t0 = 0.0
        for chunk in reader:
            if n == 0:
                t0 = time.perf_counter()
            n += chunk.data.num_rows
        elapsed = time.perf_counter() - t0
        if n != count:
            raise SystemExit(f"expected {count} tensors, got {n}")
        print(elapsed, flush=True)
    client.close()


if __name__ == "__main__":
    main()
