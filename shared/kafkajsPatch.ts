// KafkaJS 2.2.4 decodes record headers with `reduce` and an object spread, a copy per header: a
// command with 150,000 tiny headers (well under the 1 MB message limit) blocked the event loop for
// minutes before any suite code ran, and its partition with it (issue 9 item 5). `npm install` /
// `npm ci` patch the installed decoder (scripts/patchKafkajs.ts, package.json `postinstall`); the
// suite checks at start-up that the patch is there.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The module patched, as `require` finds it. */
export const decoderModule = 'kafkajs/src/protocol/recordBatch/record/v0/decoder.js';

const marker = 'customer-profiles: linear header decoding';

/** The code replaced, exactly as KafkaJS 2.2.4 ships it. */
export const originalHeaderDecoding = `  const headers = decoder.readVarIntArray(HeaderDecoder).reduce(
    (obj, { key, value }) => ({
      ...obj,
      [key]:
        obj[key] === undefined
          ? value
          : Array.isArray(obj[key])
          ? obj[key].concat([value])
          : [obj[key], value],
    }),
    {}
  )
`;

// Same result as the original (repeated keys collect into an array, in order; a `__proto__` key is
// an own property, as the computed key of the spread made it), without the copies: one property
// write per header, one push per repeat. Only own properties count as "already there" (the
// original turned a `constructor` header into [Object, value]).
const patched = `  // ${marker} (shared/kafkajsPatch.ts); was reduce + spread, quadratic
  const headers = {}
  for (const { key, value } of decoder.readVarIntArray(HeaderDecoder)) {
    const existing = Object.prototype.hasOwnProperty.call(headers, key) ? headers[key] : undefined
    const next =
      existing === undefined ? value : Array.isArray(existing) ? (existing.push(value), existing) : [existing, value]
    if (key === '__proto__') {
      Object.defineProperty(headers, key, { value: next, enumerable: true, writable: true, configurable: true })
    } else {
      headers[key] = next
    }
  }
`;

export type PatchOutcome = 'patched' | 'already patched';

/**
 * Patches the decoder file (a new file renamed over the old one). Idempotent; throws when the file
 * is neither the known original nor patched (a KafkaJS upgrade: check its decoder, update or drop this).
 */
export function patchDecoderFile(file: string): PatchOutcome {
  const text = readFileSync(file, 'utf8');
  if (text.includes(marker)) return 'already patched';
  const at = text.indexOf(originalHeaderDecoding);
  if (at === -1 || text.includes(originalHeaderDecoding, at + 1)) {
    throw new Error(
      `${file} is not the KafkaJS 2.2.4 record decoder this patch knows: check whether its header decoding is still quadratic, then update or remove shared/kafkajsPatch.ts`,
    );
  }
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text.slice(0, at) + patched + text.slice(at + originalHeaderDecoding.length));
  // A rename, not a write into the same file: a hard-linked copy of node_modules keeps its own.
  renameSync(temporary, file);
  return 'patched';
}

/** Whether the installed KafkaJS decodes headers in linear time (checked at start-up). */
export function isDecoderPatched(file = createRequire(import.meta.url).resolve(decoderModule)): boolean {
  return readFileSync(file, 'utf8').includes(marker);
}

