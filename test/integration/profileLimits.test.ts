import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { makeKafka } from '../../shared/kafka.ts';
import { limits } from '../../workers/profile/limits.ts';
import { actor, commandJson, creator } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { randomName, testLogger, waitFor } from '../helpers/services.ts';

/** Hostile input against the real stack: organisations not served, client text in metrics, oversized and undecodable commands. */
describe('profile worker: limits and hostile input', () => {
  let harness: ProfileHarness;
  let admin: Admin;
  beforeAll(async () => {
    harness = await startProfileHarness({ env: { ORGANISATION_IDS: '1-2' } });
    admin = makeKafka({ brokers: harness.config.kafka.brokers, clientId: randomName('limits'), logger: testLogger() }).admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
    await harness?.close();
  });

  it('a command of an organisation outside ORGANISATION_IDS is UNKNOWN_ORGANISATION, and no event topic is created for it', async () => {
    const unserved = 3;
    const foreign = await harness.run('CreateProfile', { ...creator, firstName: 'A', surname: 'B' }, undefined, { organisationId: unserved });
    expect(foreign).toMatchObject({ status: 'REJECTED', code: 'UNKNOWN_ORGANISATION', organisationId: unserved, message: `organisation ${unserved} is not served by this suite` });
    // A served organisation's command after it, on the same worker: its event went out, the other's never will.
    const served = await harness.run('CreateProfile', { ...creator, firstName: 'A', surname: 'B' }, undefined, { organisationId: 2 });
    expect(served).toMatchObject({ status: 'ACCEPTED' });
    await waitFor('the served organisation event', () => harness.eventsOf(served.customerNumber!)[0]);
    expect(await admin.listTopics()).not.toContain(harness.names.customerChanged(unserved));
    expect(await harness.mongo.db.collection('profiles').countDocuments({ organisationId: unserved })).toBe(0);
  });

  it('a command type holding an email is answered, and /metrics shows neither it nor any other unknown type', async () => {
    const email = `kari.${Date.now()}@example.no`;
    expect(await harness.run(email, actor, '1')).toMatchObject({ status: 'REJECTED', code: 'UNKNOWN_COMMAND_TYPE' });
    const text = await waitFor('the rejection counted', async () => {
      const metrics = await harness.metrics.registry.metrics();
      return metrics.includes('profiles_commands_total{type="unknown",status="REJECTED",code="UNKNOWN_COMMAND_TYPE"}') ? metrics : undefined;
    });
    expect(text).not.toContain(email);
    expect(text).not.toContain('example.no');
  });

  it('a command over the size limit goes to the DLQ as TOO_LARGE and is answered LIMIT_EXCEEDED; invalid UTF-8 goes to the DLQ as MALFORMED_UTF8; the partition goes on', async () => {
    const key = randomName('hostile');
    const big = JSON.stringify({ commandId: `${key}-big`, type: 'CreateProfile', organisationId: 1, payload: { ...creator, firstName: 'x'.repeat(limits.commandBytes), surname: 'B' } });
    await harness.send(big, { key });
    const utf8 = Buffer.concat([Buffer.from(`{"commandId":"${key}-utf8","type":"CreateProfile","organisationId":1,"payload":{"firstName":"K`), Buffer.from([0xc3, 0x28]), Buffer.from('ri","surname":"B","createdBy":"a","createdByChannel":"web"}}')]);
    await harness.send(utf8, { key });
    const after = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' });
    await harness.send(after, { key });

    expect(await harness.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    expect(await harness.result(`${key}-big`)).toMatchObject({ status: 'REJECTED', code: 'LIMIT_EXCEEDED', message: `undecodable: command: at most ${limits.commandBytes} bytes` });
    expect(await harness.result(`${key}-utf8`)).toMatchObject({ status: 'REJECTED', code: 'INVALID_COMMAND', message: 'undecodable: not valid UTF-8' });
    const records = await waitFor('two DLQ records', () => {
      const found = harness.dlq.filter((record) => record.key === key);
      return found.length >= 2 ? found : undefined;
    });
    expect(records.map((record) => record.headers['error-code'])).toEqual(['TOO_LARGE', 'MALFORMED_UTF8']);
  });
});
