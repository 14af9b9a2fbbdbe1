import { type AbortOptions, HarmonicsError, type Tensor } from '@harmonics/core';
import { throwIfAborted } from '@harmonics/internal';
import type { NatsConsumerBase, NatsPubAck } from './consumer.js';
import type { NatsDelivery, NatsProducerBase } from './producer.js';

/** Options of {@link runStage}. */
export interface StageOptions extends AbortOptions {
  /**
   * Prefix of the output ids: `${idPrefix}${stream}:${seq}`. Give each stage
   * of a pipeline its own (the stage's name), so that two stages writing to
   * one stream never share an id. Default `''`.
   */
  idPrefix?: string;
  /** Stop after this many inputs (the last is acknowledged when `input` is next read or closed). Default: until the input ends. */
  limit?: number;
  /**
   * Called after each output's PubAck and before its input is acknowledged
   * (logging, metrics). The input stays unacknowledged until it returns.
   */
  afterOutput?: (delivery: NatsDelivery, ack: NatsPubAck) => void | Promise<void>;
}

/** What {@link runStage} did. */
export interface StageResult {
  /** Inputs taken and answered (redeliveries included). */
  processed: number;
  /** Of those, inputs that had been delivered before (to this or a worker that died). */
  redelivered: number;
  /** Outputs the stream had stored already (their PubAck said duplicate): a redelivered input whose output was published before. */
  duplicates: number;
}

/**
 * A pipeline stage with an **exactly-once effect** on JetStream: reads each
 * input from `input` (a durable pull consumer, shared by the stage's
 * workers), computes its output with `fn`, and publishes it to `output` with
 * a `Nats-Msg-Id` derived from the input's stream sequence
 * (`${idPrefix}${stream}:${seq}`). The input is acknowledged only when the
 * next one is asked for, that is after the output's PubAck.
 *
 * A worker that dies at any point therefore leaves either an input not yet
 * answered (redelivered, answered once) or an input answered and not
 * acknowledged (redelivered, its output published again with the same id and
 * de-duplicated by the stream): one stored output per input either way.
 * This holds while a redelivery comes within the output stream's
 * `duplicate_window` (2 min by default): keep the input's `ackWaitMs` well
 * under it. `fn` must be deterministic for the outputs to be bit-identical,
 * and it may run more than once for one input.
 *
 * Returns when `input` ends (or after `limit` inputs); does not close
 * either end.
 */
export async function runStage(
  input: NatsProducerBase,
  output: NatsConsumerBase,
  fn: (t: Tensor, delivery: NatsDelivery) => Tensor | Promise<Tensor>,
  options: StageOptions = {},
): Promise<StageResult> {
  if (input.stream === undefined || output.stream === undefined)
    throw new HarmonicsError(
      'ERR_INVALID_ARGUMENT',
      'runStage needs JetStream on both sides (a { stream } on the input and on the output): plain subjects store nothing to redeliver or de-duplicate',
    );
  const result: StageResult = { processed: 0, redelivered: 0, duplicates: 0 };
  const prefix = options.idPrefix ?? '';
  while (options.limit === undefined || result.processed < options.limit) {
    throwIfAborted(options.signal, 'runStage');
    const t = await input.next({ signal: options.signal });
    if (t === undefined) break;
    const d = input.delivery!;
    const out = await fn(t, d);
    await output.push(out, { msgId: `${prefix}${d.stream}:${d.seq}`, signal: options.signal });
    result.processed++;
    if (d.redelivered) result.redelivered++;
    const ack = output.lastAck!;
    if (ack.duplicate) result.duplicates++;
    await options.afterOutput?.(d, ack);
  }
  return result;
}
