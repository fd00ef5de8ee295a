import type { Dispatcher } from 'undici';

/**
 * The response body as text, refusing past `maxBytes` without reading the rest (a declared
 * `content-length` over the limit is refused before the first byte). The error has the code
 * `ETLIFY_RESPONSE_TOO_LARGE` and is classed like a lost connection: a write may have been applied.
 */
export async function readCapped(response: Dispatcher.ResponseData, maxBytes: number): Promise<string> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) tooLarge(response, `${declared} bytes`, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) tooLarge(response, `more than ${maxBytes} bytes`, maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function tooLarge(response: Dispatcher.ResponseData, size: string, maxBytes: number): never {
  response.body.destroy();
  throw Object.assign(new Error(`the answer holds ${size}; Etlify reads at most ${maxBytes} (maxResponseBytes)`), { code: 'ETLIFY_RESPONSE_TOO_LARGE' });
}
