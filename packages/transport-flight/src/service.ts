// arrow.flight.protocol.FlightService as grpc-js sees it: paths, streaming
// kinds and (de)serializers. Messages stay Buffers at this level; the handlers
// parse them with proto.ts so a malformed message becomes a status, not a crash.
import type { ServiceDefinition } from '@grpc/grpc-js';

export const SERVICE = 'arrow.flight.protocol.FlightService';

/** [method, requestStream, responseStream] in Flight.proto's order. */
export const METHODS = [
  ['Handshake', true, true],
  ['ListFlights', false, true],
  ['GetFlightInfo', false, false],
  ['PollFlightInfo', false, false],
  ['GetSchema', false, false],
  ['DoGet', false, true],
  ['DoPut', true, true],
  ['DoExchange', true, true],
  ['DoAction', false, true],
  ['ListActions', false, true],
] as const;

export type MethodName = (typeof METHODS)[number][0];

export function methodPath(name: MethodName): string {
  return `/${SERVICE}/${name}`;
}

const identity = (b: Buffer): Buffer => b;

/** The service definition with every message passed through as bytes. */
export function flightService(): ServiceDefinition {
  const def: Record<string, unknown> = {};
  for (const [name, requestStream, responseStream] of METHODS) {
    def[name] = {
      path: methodPath(name),
      requestStream,
      responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: name,
    };
  }
  return def as ServiceDefinition;
}
