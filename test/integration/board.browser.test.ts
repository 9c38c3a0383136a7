import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { makeMetrics } from '../../shared/metrics.ts';
import { boardPath, startOpsServer } from '../../app/ops/server.ts';
import { makeQueue } from '../../shared/queue.ts';
import { cleanup, randomName, testConfig, testLogger } from '../helpers/services.ts';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it when missing). */
const chromiumPath = '/usr/bin/chromium';

describe('bull-board dashboard in a browser', () => {
  const config = testConfig();

  it('renders behind basic auth and shows a queue of the suite', async () => {
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium`);
    const queue = makeQueue(randomName('board-queue'), { redisUrl: config.redisUrl });
    cleanup(async () => {
      await queue.obliterate({ force: true });
      await queue.close();
    });
    // Ids only, as every job of the suite.
    await queue.add('expire', { organisationId: 7, customerNumber: '1001' }, { delay: 60_000 });
    const credentials = { user: 'operator', password: randomName('password') };
    const server = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      board: credentials,
      queues: [queue],
      registry: makeMetrics().registry,
      logger: testLogger(),
    });
    cleanup(() => server.close());

    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    cleanup(() => browser.close());
    const context = await browser.newContext({
      httpCredentials: { username: credentials.user, password: credentials.password },
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();

    const response = await page.goto(`${server.url}${boardPath}`);
    expect(response?.status()).toBe(200);
    await page.getByText(queue.name).first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: 'reports/board.png', fullPage: true });
  });
});
