import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { makeKafka } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import { makeMetrics } from '../../shared/metrics.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { boardPath, startOpsServer, type OpsServerOptions } from '../../app/ops/server.ts';
import { makeQueue } from '../../shared/queue.ts';
import { makeRedis } from '../../shared/redis.ts';
import { makeSuiteChecks } from '../../app/ops/suiteOps.ts';
import { cleanup, randomName, testConfig, testLogger } from '../helpers/services.ts';

const config = testConfig();
const board = { user: 'operator', password: 'correct horse battery' };
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** An ops server on a free local port, closed when the test ends. */
async function startOps(options: Partial<OpsServerOptions> = {}) {
  const metrics = makeMetrics();
  const server = await startOpsServer({ port: 0, host: '127.0.0.1', board, registry: metrics.registry, logger: testLogger(), ...options });
  cleanup(() => server.close());
  return { server, metrics };
}

/** The suite's real clients for its readiness checks, each closed when the test ends. */
async function suiteClients() {
  const mongo = await connectMongo(config.mongoUri, { dbName: randomName('ops') });
  cleanup(() => mongo.close());
  const redis = makeRedis(config.redisUrl, { name: 'test:ops' });
  cleanup(() => redis.disconnect());
  const admin = makeKafka({ brokers: config.kafka.brokers, clientId: randomName('ops'), logger: testLogger() }).admin();
  await admin.connect();
  cleanup(() => admin.disconnect());
  return { mongo, redis, admin, registryUrl: config.registryUrl };
}

function randomQueue(): Queue {
  const queue = makeQueue(randomName('ops-queue'), { redisUrl: config.redisUrl });
  cleanup(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });
  return queue;
}

describe('ops server', () => {
  it('answers /healthz while the process is alive', async () => {
    const { server } = await startOps();
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('is ready when every suite check passes: MongoDB, Redis, Kafka, the registry and each worker', async () => {
    const clients = await suiteClients();
    const workers: RunningWorker[] = [{ name: 'profile', isReady: () => true, stop: async () => undefined }];
    const { server } = await startOps({ checks: makeSuiteChecks({ ...clients, workerNames: ['profile'], workers }) });

    const response = await fetch(`${server.url}/readyz`);
    expect(await response.json()).toEqual({
      status: 'ok',
      checks: { mongodb: { status: 'ok' }, redis: { status: 'ok' }, kafka: { status: 'ok' }, registry: { status: 'ok' }, 'worker:profile': { status: 'ok' } },
    });
    expect(response.status).toBe(200);
  });

  it('answers 503 naming each failing check with its error, the others still ok', async () => {
    const clients = await suiteClients();
    const closed = makeRedis(config.redisUrl, { name: 'test:ops-closed' });
    closed.disconnect();
    const checks = {
      ...makeSuiteChecks({ ...clients, redis: closed, workerNames: ['deletion'], workers: [] }),
      throws: async () => {
        throw new Error('boom');
      },
      hangs: () => new Promise<void>(() => undefined),
    };
    const { server } = await startOps({ checks, checkTimeoutMs: 300 });

    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: 'failing',
      checks: {
        mongodb: { status: 'ok' },
        redis: { status: 'failing', error: 'Connection is closed.' },
        kafka: { status: 'ok' },
        registry: { status: 'ok' },
        'worker:deletion': { status: 'failing', error: 'not started' },
        throws: { status: 'failing', error: 'boom' },
        hangs: { status: 'failing', error: 'timed out after 300 ms' },
      },
    });
  });

  it('names a worker\'s own reason for not being ready (a topic it could not configure)', async () => {
    const clients = await suiteClients();
    const reason = 'topics not configured as the suite needs: customer-commands-x (cannot set retention.ms=604800000: not authorised)';
    const workers: RunningWorker[] = [{ name: 'profile', isReady: () => false, problem: () => reason, stop: async () => undefined }];
    const { server } = await startOps({ checks: makeSuiteChecks({ ...clients, workerNames: ['profile'], workers }) });
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { checks: Record<string, unknown> }).checks['worker:profile']).toEqual({ status: 'failing', error: reason });
  });

  it('credentials in the registry URL work, and a failing check never shows them (SPEC §7)', async () => {
    const clients = await suiteClients();
    const withCredentials = (url: string) => url.replace('://', '://user:s3cr3t-pass@');
    const checks = {
      registry: makeSuiteChecks({ ...clients, registryUrl: withCredentials(clients.registryUrl), workerNames: [], workers: [] })['registry']!,
      'registry-closed': makeSuiteChecks({ ...clients, registryUrl: 'http://user:s3cr3t-pass@127.0.0.1:9/apis/ccompat/v7', workerNames: [], workers: [] })['registry']!,
      quotes: async () => {
        throw new Error('could not reach mongodb://admin:hunter22-pw@db:27017/profiles', { cause: new Error('auth failed for hunter22-pw') });
      },
    };
    const { server } = await startOps({ checks, secrets: ['hunter22-pw'] });

    const response = await fetch(`${server.url}/readyz`);
    const text = await response.text();
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('hunter22');
    const readiness = JSON.parse(text) as { checks: Record<string, { status: string; error?: string }> };
    expect(readiness.checks['registry']).toEqual({ status: 'ok' });
    expect(readiness.checks['registry-closed']).toMatchObject({ status: 'failing', error: expect.stringContaining('fetch failed') });
    expect(readiness.checks['quotes']!.error).toBe('could not reach mongodb://admin:***@db:27017/profiles (auth failed for ***)');
  });

  it('serves the registry on /metrics in Prometheus text, with the suite metrics and the process ones', async () => {
    const { server, metrics } = await startOps();
    metrics.commandsTotal.inc({ type: 'CreateCustomer', status: 'accepted', code: 'OK' });

    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toContain('profiles_commands_total{type="CreateCustomer",status="accepted",code="OK"} 1');
    for (const name of ['profiles_dlq_total', 'profiles_event_publish_lag_seconds', 'profiles_expirations_pending', 'profiles_expirations_overdue', 'profiles_erasures_total', 'profiles_command_handling_seconds', 'profiles_erasure_lag_seconds', 'process_cpu_seconds_total']) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });

  it('keeps the dashboard behind basic auth and lists the queues given at start and later, read-only', async () => {
    const first = randomQueue();
    const later = randomQueue();
    const { server } = await startOps({ queues: [first] });
    const api = `${server.url}${boardPath}/api/queues`;

    for (const headers of [{}, basic(board.user, 'wrong password'), basic('someone', board.password)]) {
      const denied = await fetch(`${server.url}${boardPath}`, { headers });
      expect(denied.status).toBe(401);
      expect(denied.headers.get('www-authenticate')).toBe('Basic realm="bull-board"');
      expect((await fetch(api, { headers })).status).toBe(401);
    }

    const page = await fetch(`${server.url}${boardPath}`, { headers: basic(board.user, board.password) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    await page.body?.cancel();

    const listed = async () => {
      const response = await fetch(api, { headers: basic(board.user, board.password) });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      return body.queues.map(({ name, readOnlyMode }) => ({ name, readOnlyMode }));
    };
    expect(await listed()).toEqual([{ name: first.name, readOnlyMode: true }]);
    server.setQueues([first, later]);
    expect(await listed()).toEqual([
      { name: first.name, readOnlyMode: true },
      { name: later.name, readOnlyMode: true },
    ]);

    // Read-only is enforced by the API, not only hidden in the UI.
    const pause = await fetch(`${api}/${encodeURIComponent(first.name)}/pause`, { method: 'PUT', headers: basic(board.user, board.password) });
    expect(pause.status).toBe(405);
    await pause.body?.cancel();
    expect(await first.isPaused()).toBe(false);
  });

  it('refuses to start when the dashboard has neither credentials nor BOARD_DISABLED', async () => {
    await expect(startOps({ board: 'unset' })).rejects.toThrow(/BOARD_USER, BOARD_PASSWORD: .*BOARD_DISABLED=true/);
  });

  it('answers 404 on the dashboard when it is disabled, the other endpoints still served', async () => {
    const { server } = await startOps({ board: 'disabled' });
    for (const path of [boardPath, `${boardPath}/api/queues`]) {
      const response = await fetch(`${server.url}${path}`, { headers: basic(board.user, board.password) });
      expect(response.status).toBe(404);
      await response.body?.cancel();
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

// Pure; kept here rather than in test/unit/ while that folder is being reworked.
