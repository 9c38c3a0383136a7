// `profiles send`: one command sent the way a client service sends it, and its result (with
// --events, the events it caused) printed. Exit 0 accepted, 2 rejected, 1 no result in time.
import { randomUUID } from 'node:crypto';
import { makeAvroCodec } from '../../shared/avro.ts';
import { servesOrganisation } from '../../shared/config.ts';
import { ensureTopics, makeProducer } from '../../shared/kafka.ts';
import { eventTopicConfig } from '../../shared/topicConfigs.ts';
import { commandKeyOf } from './arguments.ts';
import { openSession } from './session.ts';

export type SendOptions = {
  /** @defaultValue SPEC §3.1's key: `<organisationId>:<customerNumber>`, or the commandId */
  key?: string;
  /** The ET-Client-Name header. */
  client: string;
  /** @defaultValue a fresh UUID */
  correlationId?: string;
  /** Also print the events the command caused (they carry its correlation id). */
  events: boolean;
  /** How long to wait for the result, in ms. */
  timeout: number;
};

export const sendExitCodes = { accepted: 0, noResult: 1, rejected: 2 } as const;

/** How long events may trail their command's result. */
const eventGraceMs = 2_000;

export async function sendCommand(command: Record<string, unknown>, options: SendOptions): Promise<number> {
  const { config, kafka, names } = openSession('send');
  const commandId = String(command['commandId'] ?? '');
  const key = options.key ?? commandKeyOf(command);
  const correlationId = options.correlationId ?? randomUUID();
  const codec = makeAvroCodec(config.registryUrl);
  const organisationId = command['organisationId'];
  const eventTopic = options.events && typeof organisationId === 'number' ? names.customerChanged(organisationId) : undefined;

  const admin = kafka.admin();
  await admin.connect();
  // Where each watched topic ends before the command goes out: reading from there, nothing the
  // command causes can be missed, however fast the suite answers.
  const ends = new Map<string, { partition: number; high: string }[]>();
  try {
    // The organisation's event topic may not exist before its first event: created as the suite would.
    if (eventTopic && servesOrganisation(config.organisations, organisationId as number)) {
      await ensureTopics(admin, [{ topic: eventTopic, numPartitions: config.kafka.eventPartitions, config: eventTopicConfig(config.retention) }]);
    }
    const existing = new Set(await admin.listTopics());
    if (!existing.has(names.results)) throw new Error(`${names.results} does not exist: is the suite running with PROFILES_ENV=${config.env}?`);
    for (const topic of [names.results, ...(eventTopic && existing.has(eventTopic) ? [eventTopic] : [])]) ends.set(topic, await admin.fetchTopicOffsets(topic));
  } finally {
    await admin.disconnect();
  }

  const consumer = kafka.consumer({ groupId: `profiles-cli-${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  const producer = makeProducer(kafka);
  let done: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let resultCode: number | undefined;
  const early: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...ends.keys()], fromBeginning: false });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, message }) => {
        if (!message.value) return;
        const { value } = (await codec.decode(message.value)) as { value: Record<string, unknown> };
        if (topic === names.results && value['commandId'] === commandId && resultCode === undefined) {
          console.log(JSON.stringify({ result: value }, null, 2));
          // Events read before the result (another topic, another partition): printed after it.
          for (const event of early.splice(0)) console.log(event);
          const exitCode = value['status'] === 'ACCEPTED' ? sendExitCodes.accepted : sendExitCodes.rejected;
          resultCode = exitCode;
          if (options.events) setTimeout(() => done(exitCode), eventGraceMs);
          else done(exitCode);
        } else if (topic !== names.results && value['correlationId'] === correlationId) {
          const printed = JSON.stringify({ event: { topic, key: message.key?.toString(), ...value } }, null, 2);
          if (resultCode === undefined) early.push(printed);
          else console.log(printed);
        }
      },
    });
    for (const [topic, offsets] of ends) for (const { partition, high } of offsets) consumer.seek({ topic, partition, offset: high });
    await joined;

    await producer.connect();
    await producer.send({
      topic: names.commands,
      acks: -1,
      messages: [{ key, value: JSON.stringify(command), headers: { 'ET-Client-Name': options.client, 'X-Correlation-Id': correlationId } }],
    });
    console.error(`sent ${commandId} (key ${key}, correlation ${correlationId}) to ${names.commands}; waiting…`);
    const timer = setTimeout(() => done(resultCode ?? sendExitCodes.noResult), options.timeout);
    const code = await finished;
    clearTimeout(timer);
    if (resultCode === undefined) console.error(`no result within ${options.timeout} ms`);
    return code;
  } finally {
    await producer.disconnect();
    await consumer.disconnect();
  }
}
