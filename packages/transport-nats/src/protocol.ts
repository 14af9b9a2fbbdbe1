// What Harmonics puts on NATS besides the C++ wire-format records: the header
// names of the end-of-stream marker and of chunked tensors, and the limits.

/** Header of the end-of-stream marker a {@link NatsConsumer} publishes on `close()`: an empty message. */
export const END_HEADER = 'Harmonics-End';
/**
 * Header of a chunked tensor's manifest: the stream sequences of its chunks,
 * comma-separated, in order. The manifest's body is empty.
 */
export const CHUNKS_HEADER = 'Harmonics-Chunks';
/** Header of a chunked tensor's manifest: the record's length in bytes (all chunks together). */
export const LENGTH_HEADER = 'Harmonics-Length';
/** JetStream's de-duplication header (set through the client's `msgID` option). */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/**
 * Room left in every message for its subject and headers: a chunk carries at
 * most `max_payload − CHUNK_HEADROOM` bytes of record.
 */
export const CHUNK_HEADROOM = 8 * 1024;

/** The subject a stream's chunks go to: `<subject>.chunks`. */
export function chunkSubjectOf(subject: string): string {
  return `${subject}.chunks`;
}

/** Default JetStream messages a reader fetches ahead (`prefetch`). */
export const DEFAULT_PREFETCH = 64;
/** Default time a JetStream publish may take, retries through reconnections included (`publishTimeoutMs`). */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 60_000;
/** Default bytes a plain-subject writer leaves unflushed before `push()` waits for the server (`highWaterMark`). */
export const DEFAULT_HIGH_WATER_MARK = 8 * 1024 * 1024;
/** Chunks of one tensor fetched (or published) at once. */
export const CHUNK_CONCURRENCY = 4;
