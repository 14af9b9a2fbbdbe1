import { type TransportPair, runTransportSuite } from '@harmonics/conformance';
import { DeferredProducer } from '@harmonics/internal';
import { FileConsumer, FileProducer } from '@harmonics/transport-file';
import { tempDir } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;

/**
 * The file transport in write-then-read mode: a FileConsumer writes the file,
 * and a FileProducer reads it once the consumer has closed it (a FileProducer
 * reads complete files; StreamingFileProducer follows a growing one).
 */
function filePair(maxMessageBytes: number | undefined): TransportPair {
  const path = tmp.file(`pair-${n++}.bin`);
  const consumer = new FileConsumer(path, { maxMessageBytes });
  let written!: () => void;
  const done = new Promise<void>((resolve) => (written = resolve));
  const close = consumer.close.bind(consumer);
  consumer.close = () => close().finally(written);
  const producer = new DeferredProducer(
    async (signal) => {
      await new Promise<void>((resolve, reject) => {
        done.then(resolve, reject);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      return new FileProducer(path, { maxMessageBytes });
    },
    async () => undefined,
    `FileProducer(${path})`,
  );
  // No disconnect(): a reader sees nothing before the writer closes, so a writer that dies
  // mid-record is a truncated file, tested in file-producer.spec.ts (ERR_TRUNCATED).
  return { producer, consumer };
}

runTransportSuite({
  name: 'FileConsumer → file → FileProducer (write, then read)',
  setup: async ({ maxMessageBytes } = {}) => filePair(maxMessageBytes),
  capabilities: { readsWhileWriting: false, backpressure: false, peerLoss: false },
});
