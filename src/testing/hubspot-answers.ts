/**
 * How the HubSpot simulator words its answers: HubSpot's error body (with the correlation id also in
 * `X-HubSpot-Correlation-Id`), batch answers (207 when some inputs failed), and batch input checks.
 */
import { randomUUID } from 'node:crypto';
import type { SimulatorResponse } from './simulator-server.ts';

export type Input = Record<string, unknown>;

export function isInput(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function errorResponse(status: number, category: string, message: string, extra: Record<string, unknown> = {}): SimulatorResponse {
  const correlationId = randomUUID();
  return {
    status,
    body: { status: 'error', message, correlationId, category, ...extra },
    headers: { 'x-hubspot-correlation-id': correlationId },
  };
}

export function itemError(category: string, message: string, id: unknown, objectWriteTraceId?: unknown): Input {
  return { status: 'error', category, message, context: { ids: [String(id)] }, ...(objectWriteTraceId === undefined ? {} : { objectWriteTraceId }) };
}

/** HubSpot's batch answer: 207 when any input failed, else `okStatus`. */
export function batchAnswer(results: unknown[], errors: unknown[], okStatus = 200): SimulatorResponse {
  const now = new Date().toISOString();
  return {
    status: errors.length > 0 ? 207 : okStatus,
    body: {
      status: 'COMPLETE',
      results,
      ...(errors.length > 0 ? { numErrors: errors.length, errors } : {}),
      requestedAt: now,
      startedAt: now,
      completedAt: now,
    },
  };
}

/** The `inputs` of a batch body, or HubSpot's 400 when they are missing or more than `max`. */
export function inputsOf(body: unknown, max: number): Input[] | SimulatorResponse {
  if (!isInput(body) || !Array.isArray(body.inputs)) return errorResponse(400, 'VALIDATION_ERROR', 'Invalid input JSON: `inputs` is required');
  if (body.inputs.length > max) {
    return errorResponse(400, 'VALIDATION_ERROR', `The maximum number of inputs supported in a batch request is ${max}. Please reduce the number of items and try again`);
  }
  return body.inputs.filter(isInput);
}
