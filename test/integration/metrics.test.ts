import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { Registry } from 'prom-client';
import { makeKafka } from '../../shared/kafka.ts';
import { makeQueue, makeWorker } from '../../shared/queue.ts';
import { registerConsumerLag, registerQueueMetrics } from '../../shared/scrapedMetrics.ts';
import { profileGroupId } from '../../workers/profile/index.ts';
import { commandJson, creator } from '../helpers/factories.ts';
import { startProfileHarness } from '../helpers/profileHarness.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { topics } from '../../shared/topics.ts';
import { erasureQueueName } from '../../shared/erasureQueue.ts';
import { reconcileQueueName, schedulerGroupId } from '../../workers/scheduler/index.ts';
import { cleanup, deletesTopicsOf, randomName, testConfig, testLogger, waitFor } from '../helpers/services.ts';
import { freePort, withDatabase } from '../helpers/suiteProcess.ts';

/** `name{labels} value` lines of one metric, as [labels, value]. */
function samples(text: string, name: string): [string, number][] {
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))].map((match) => [match[1]!, Number(match[2])]);
}

describe('metrics read from the services at scrape time', () => {
  it('reports each partition\'s consumer lag from the broker: commands waiting while the worker is down, none once it consumed; and the handling time of each', async () => {
    const harness = await startProfileHarness({ startWorker: false });
    cleanup(() => harness.close());
    const admin = makeKafka({ brokers: harness.config.kafka.brokers, clientId: randomName('metrics'), logger: testLogger() }).admin();
    await admin.connect();
    cleanup(() => admin.disconnect());
    const groupId = profileGroupId(harness.config.env);
    const { registry } = harness.metrics;
    registerConsumerLag(registry, { admin, groups: [{ groupId, topics: [harness.names.commands] }] });
    const lags = async () => samples(await registry.metrics(), 'profiles_consumer_lag_messages');

    const commands = Array.from({ length: 5 }, (_, index) => commandJson('CreateProfile', { ...creator, firstName: `Lag${index}`, surname: 'Test' }, { organisationId: 1 }));
    await harness.sendMany(commands);

    // No consumer has run, no batch was processed: the lag is the broker's.
    const waiting = await lags();
    expect(waiting.map(([labels]) => labels).sort()).toEqual([0, 1, 2].map((partition) => `group="${groupId}",topic="${harness.names.commands}",partition="${partition}"`));
    expect(waiting.reduce((sum, [, lag]) => sum + lag, 0)).toBe(commands.length);

    await harness.startWorker();
    for (const command of commands) await harness.result(command['commandId'] as string);
    await waitFor('no lag left on any partition', async () => {
      const now = await lags();
      return now.length === 3 && now.every(([, lag]) => lag === 0);
    });

    const text = await registry.metrics();
    expect(text).toMatch(/^profiles_command_handling_seconds_count ([5-9]|\d\d+)$/m);
    expect(text).toContain('# TYPE profiles_command_handling_seconds histogram');
    expect(text).toMatch(new RegExp(`^profiles_consumer_lag_scrape_errors_total\\{group="${groupId}"\\} 0$`, 'm'));
  });

  it('shows each BullMQ queue\'s jobs per state, and the jobs its workers completed', async () => {
    const config = testConfig();
    const queue = makeQueue<{ n: number }>(randomName('metrics-queue'), { redisUrl: config.redisUrl });
    cleanup(async () => {
      await queue.obliterate({ force: true });
      await queue.close();
    });
    const worker = makeWorker<{ n: number }>(queue.name, async () => 'done', { redisUrl: config.redisUrl, concurrency: 1 });
    cleanup(() => worker.close());
    await queue.add('now', { n: 1 });
    await queue.add('later', { n: 2 }, { delay: 60_000 });
    const registry = new Registry();
    registerQueueMetrics(registry, { queues: [queue] });

    const text = await waitFor('the job done', async () => {
      const scraped = await registry.metrics();
      return scraped.includes(`profiles_queue_jobs_finished_total{queue="${queue.name}",state="completed"} 1`) ? scraped : undefined;
    });
    expect(Object.fromEntries(samples(text, 'profiles_queue_jobs'))).toEqual(
      Object.fromEntries(
        Object.entries({ waiting: 0, prioritized: 0, delayed: 1, active: 0, completed: 1, failed: 0 }).map(([state, count]) => [`queue="${queue.name}",state="${state}"`, count]),
      ),
    );
    expect(text).toContain(`profiles_queue_jobs_finished_total{queue="${queue.name}",state="failed"} 0`);
    expect(text).toContain(`profiles_queue_scrape_errors_total{queue="${queue.name}"} 0`);
  });

  it('the suite serves them on /metrics: the lag of its consumer groups and the jobs of its queues', async () => {
    const services = inject('services');
    const env = randomName('metrics');
    deletesTopicsOf(env);
    const database = randomName('metrics').replace('-', '_');
    const port = await freePort();
    const child = spawn(process.execPath, ['app/main.ts'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, ...services, PROFILES_ENV: env, MONGODB_URI: withDatabase(services.MONGODB_URI, database), OPS_PORT: String(port), BOARD_DISABLED: 'true', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    cleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      const mongo = await connectMongo(withDatabase(services.MONGODB_URI, database));
      await mongo.db.dropDatabase();
      await mongo.close();
    });

    const names = topics(env);
    const text = await waitFor(
      'the workers\' metrics',
      async () => {
        const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return scraped.includes(`profiles_consumer_lag_messages{group="${schedulerGroupId(env)}"`) ? scraped : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(text).toMatch(new RegExp(`^profiles_consumer_lag_messages\\{group="${profileGroupId(env)}",topic="${names.commands}",partition="0"\\} 0$`, 'm'));
    expect(text).toMatch(new RegExp(`^profiles_consumer_lag_messages\\{group="${schedulerGroupId(env)}",topic="${names.expirations}",partition="0"\\} 0$`, 'm'));
    for (const queue of [erasureQueueName(env), reconcileQueueName(env)]) {
      for (const state of ['waiting', 'delayed', 'active', 'completed', 'failed']) expect(text).toMatch(new RegExp(`^profiles_queue_jobs\\{queue="${queue}",state="${state}"\\} \\d+$`, 'm'));
      expect(text).toContain(`profiles_queue_jobs_finished_total{queue="${queue}",state="failed"}`);
    }
    expect(text).toContain('# TYPE profiles_erasure_lag_seconds histogram');

    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  }, 90_000);
});
