import { afterEach, describe, expect, it } from 'vitest';
import { makeKafka } from '../../shared/kafka.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { randomName, testLogger } from '../helpers/services.ts';

/** SPEC §2, §6: the topics the suite owns are configured so that personal data leaves Kafka too. */
describe('topics created before the suite (by an older version, by hand)', () => {
  let harness: ProfileHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('are aligned at start-up: event topics compacted with the configured lags, commands and DLQ with their retention', async () => {
    // The harness creates the command, DLQ and event topics with the broker defaults before the worker starts.
    harness = await startProfileHarness({ env: { EVENT_MIN_COMPACTION_LAG_MS: '1000', EVENT_MAX_COMPACTION_LAG_MS: '600000', COMMAND_RETENTION_MS: '3600000', DLQ_RETENTION_MS: '7200000' } });
    const h = harness;
    const admin = makeKafka({ brokers: h.config.kafka.brokers, clientId: randomName('align'), logger: testLogger() }).admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [h.names.customerChanged(1), h.names.customerChanged(2), h.names.commands, h.names.dlq].map((name) => ({ type: 2 as never, name })),
      });
      const configOf = (topic: string) => Object.fromEntries(resources.find((resource) => resource.resourceName === topic)!.configEntries.map((entry) => [entry.configName, entry.configValue]));
      for (const organisation of [1, 2]) {
        expect(configOf(h.names.customerChanged(organisation))).toMatchObject({ 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '1000', 'max.compaction.lag.ms': '600000', 'segment.ms': '600000' });
      }
      expect(configOf(h.names.commands)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '3600000' });
      expect(configOf(h.names.dlq)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '7200000' });
    } finally {
      await admin.disconnect();
    }
    // And the suite works as ever on them.
    expect(await h.run('CreateProfile', { createdBy: 'agent-7', createdByChannel: 'web', firstName: 'A', surname: 'B' })).toMatchObject({ status: 'ACCEPTED' });
  });
});
