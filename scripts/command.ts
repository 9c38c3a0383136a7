// Sends one command the way a client service does and prints its result (and, with --events, the
// events it caused). Uses the same configuration as the suite (.stack/env when nothing is set).
//
//   npm run command -- '{"commandId":"c1","type":"CreateProfile","organisationId":1,"payload":{...}}'
//   echo '{...}' | npm run command -- -
//   options: --key <key>  --client <company-application>  --correlation-id <id>  --events  --timeout <ms>
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { makeAvroCodec } from '../shared/avro.ts';
import { loadConfig } from '../shared/config.ts';
import { ensureTopics, makeKafka, makeProducer } from '../shared/kafka.ts';
import { eventTopicConfig } from '../shared/topicConfigs.ts';
import { makeLogger } from '../shared/logger.ts';
import { topics } from '../shared/topics.ts';
import { useLocalStackWhenUnconfigured } from './stackEnv.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    key: { type: 'string' },
    client: { type: 'string', default: 'cli-profiles' },
    'correlation-id': { type: 'string' },
    events: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '15000' },
  },
});

useLocalStackWhenUnconfigured({ start: false });
const config = loadConfig({ ...process.env, BOARD_DISABLED: 'true' });
const source = positionals[0] === '-' || positionals.length === 0 ? readFileSync(0, 'utf8') : positionals.join(' ');
const command = JSON.parse(source) as Record<string, unknown>;
const commandId = String(command['commandId'] ?? '');
const key = values.key ?? (command['customerNumber'] ? `${String(command['organisationId'])}:${String(command['customerNumber'])}` : commandId);
const correlationId = values['correlation-id'] ?? randomUUID();
const names = topics(config.env);

const logger = makeLogger({ level: 'error' });
const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: 'profiles-cli', logger });
const codec = makeAvroCodec(config.registryUrl);
const watched = [names.results, ...(values.events && typeof command['organisationId'] === 'number' ? [names.customerChanged(command['organisationId'])] : [])];
const admin = kafka.admin();
await admin.connect();
// The organisation's event topic may not exist before its first event: create it as the suite would.
await ensureTopics(admin, watched.slice(1).map((topic) => ({ topic, numPartitions: config.kafka.eventPartitions, config: eventTopicConfig(config.retention) })));
const existing = new Set(await admin.listTopics());
await admin.disconnect();

const consumer = kafka.consumer({ groupId: `profiles-cli-${randomUUID()}` });
await consumer.connect();
await consumer.subscribe({ topics: watched.filter((topic) => existing.has(topic)), fromBeginning: false });
const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
let done: (code: number) => void = () => undefined;
const finished = new Promise<number>((resolve) => (done = resolve));
let gotResult = false;
await consumer.run({
  eachMessage: async ({ topic, message }) => {
    if (!message.value) return;
    const { value } = (await codec.decode(message.value)) as { value: Record<string, unknown> };
    if (topic === names.results && value['commandId'] === commandId) {
      console.log(JSON.stringify({ result: value }, null, 2));
      gotResult = true;
      const exitCode = value['status'] === 'ACCEPTED' ? 0 : 2;
      // With --events, give the events a moment to arrive after the result.
      if (values.events) setTimeout(() => done(exitCode), 2_000);
      else done(exitCode);
    } else if (topic !== names.results && value['correlationId'] === correlationId) {
      console.log(JSON.stringify({ event: { topic, key: message.key?.toString(), ...value } }, null, 2));
    }
  },
});
await joined;

const producer = makeProducer(kafka);
await producer.connect();
await producer.send({
  topic: names.commands,
  acks: -1,
  messages: [{ key, value: JSON.stringify(command), headers: { 'ET-Client-Name': values.client, 'X-Correlation-Id': correlationId } }],
});
console.error(`sent ${commandId} (key ${key}, correlation ${correlationId}) to ${names.commands}; waiting…`);
const timer = setTimeout(() => done(gotResult ? 0 : 1), Number(values.timeout));
const code = await finished;
clearTimeout(timer);
if (!gotResult) console.error('no result within the timeout');
await producer.disconnect();
await consumer.disconnect();
process.exit(code);
