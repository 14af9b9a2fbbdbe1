import { PassThrough } from 'node:stream';
import { StreamConsumer, StreamProducer, fromOrt, fromTfjs, isHarmonicsError, pipe, tensor, toOrt, toTfjs } from '@harmonics/core';
import { expectSameTensor, sampleTensor } from '@harmonics/conformance';

describe('pipe()', () => {
  it('moves every tensor with backpressure and closes both sides', async () => {
    const a = new PassThrough();
    const b = new PassThrough();
    const source = new StreamConsumer(a);
    const sent = Array.from({ length: 50 }, (_, i) => sampleTensor('float32', [32, 32], i));
    const feeding = (async () => {
      for (const t of sent) await source.push(t);
      await source.close();
    })();
    const sink = new StreamProducer(b);
    const moving = pipe(new StreamProducer(a), new StreamConsumer(b));
    const got = [];
    for await (const t of sink) got.push(t);
    expect(await moving).toBe(50);
    await feeding;
    got.forEach((t, i) => expectSameTensor(t, sent[i]));
    expect(got).toHaveLength(50);
  });

  it('closes both sides and rethrows when the producer fails', async () => {
    const a = new PassThrough();
    const out = new PassThrough();
    const consumer = new StreamConsumer(out);
    a.end(Uint8Array.from([20, 0, 0, 0, 0])); // a frame cut after 1 of its 20 bytes
    let code: string | undefined;
    try {
      await pipe(new StreamProducer(a), consumer);
    } catch (err) {
      code = isHarmonicsError(err) ? err.code : String(err);
    }
    expect(code).toBe('ERR_TRUNCATED');
    let after: string | undefined;
    await consumer.push(tensor('uint8', [1])).catch((e) => (after = e.code));
    expect(after).toBe('ERR_CLOSED');
  });
});

describe('framework adapters', () => {
  it('fromOrt / toOrt share memory with onnxruntime-style tensors', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = fromOrt({ type: 'float32', dims: [2, 3], data });
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 3]);
    const back = toOrt(t);
    expect(back).toEqual({ type: 'float32', dims: [2, 3], data });
    expect(back.data).toBe(data);
    expect(() => fromOrt({ type: 'string', dims: [1], data: ['x'] })).toThrow(expect.objectContaining({ code: 'ERR_BAD_DTYPE' }));
  });

  it('fromTfjs / toTfjs map TensorFlow.js-style tensors without copying', () => {
    const values = new Int32Array([1, 2, 3]);
    const t = fromTfjs({ dtype: 'int32', shape: [3], dataSync: () => values });
    expect(t.data).toBe(values);
    expect(toTfjs(t).values).toBe(values);
    expect(fromTfjs({ dtype: 'bool', shape: [2], values: new Uint8Array([1, 0]) }).dtype).toBe('bool');
    expect(() => toTfjs(tensor('int64', [1]))).toThrow(expect.objectContaining({ code: 'ERR_BAD_DTYPE' }));
  });
});
