// `postinstall` (npm install / npm ci): makes the installed KafkaJS decode record headers in
// linear time (see shared/kafkajsPatch.ts). Idempotent; fails loudly on a decoder it does not know.
//
//   node scripts/patchKafkajs.ts [path/to/kafkajs/src/protocol/recordBatch/record/v0/decoder.js]
import { createRequire } from 'node:module';
import { decoderModule, patchDecoderFile } from '../shared/kafkajsPatch.ts';

const file = process.argv[2] ?? createRequire(import.meta.url).resolve(decoderModule);
try {
  console.error(`[patch-kafkajs] ${file}: ${patchDecoderFile(file)}`);
} catch (error) {
  console.error(`[patch-kafkajs] FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
