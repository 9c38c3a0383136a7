import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import express, { type ErrorRequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/logger.ts';
import { assertBoardConfigured, makeBoard, type BoardAccess } from './board.ts';
import { runChecks, type ReadinessCheck } from './readiness.ts';

export { assertBoardConfigured };
export type { BoardAccess, ReadinessCheck };

/** Where the dashboard is served. */
export const boardPath = '/admin/queues';

export type OpsServerOptions = {
  /** Port to listen on; 0 picks a free one (tests). */
  port: number;
  /** @defaultValue '0.0.0.0' */
  host?: string;
  /** Basic-auth credentials of the dashboard, `'disabled'`, or `'unset'` (refused at start). */
  board: BoardAccess;
  /** Queues the dashboard shows from the start; more can come later with `setQueues`. @defaultValue [] */
  queues?: readonly Queue[];
  /** bull-board's `readOnlyMode`: jobs can be looked at, not retried or removed. @defaultValue true */
  readOnly?: boolean;
  /** Named readiness checks behind /readyz, run in parallel. @defaultValue {} */
  checks?: Readonly<Record<string, ReadinessCheck>>;
  /**
   * Secrets (service passwords) never to show in a failing check's error; URL credentials are
   * removed in any case. @defaultValue []
   */
  secrets?: readonly string[];
  /** Time each readiness check gets before it counts as failing. @defaultValue 2_000 */
  checkTimeoutMs?: number;
  /** Served at /metrics. */
  registry: Registry;
  logger: Logger;
};

export type OpsServer = {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Shows exactly these queues on the dashboard (workers create theirs after the server started). */
  setQueues: (queues: readonly Queue[]) => void;
  /** Stops accepting connections and resolves once the open requests are answered. */
  close: () => Promise<void>;
};

/**
 * The ops HTTP server (SPEC §7): `/healthz` (the process is alive), `/readyz` (every dependency
 * answers), `/metrics` (Prometheus) and the bull-board dashboard at {@link boardPath} behind basic
 * auth. Refuses to start when the dashboard has neither credentials nor BOARD_DISABLED=true.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry, logger } = options;
  assertBoardConfigured(options.board);
  const checks = options.checks ?? {};
  const checkTimeoutMs = options.checkTimeoutMs ?? 2_000;
  const board = makeBoard({ basePath: boardPath, board: options.board, queues: options.queues ?? [], readOnly: options.readOnly ?? true });

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const readiness = await runChecks(checks, checkTimeoutMs, options.secrets ?? []);
    res.set('Cache-Control', 'no-store').status(readiness.status === 'ok' ? 200 : 503).json(readiness);
  });
  app.get('/metrics', async (_req, res) => {
    const text = await registry.metrics();
    res.set('Cache-Control', 'no-store').type(registry.contentType).send(text);
  });
  app.use(boardPath, board.router);
  app.use(errorHandler(logger));

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = urlOf(server.address() as AddressInfo);
  logger.info({ url, dashboard: options.board === 'disabled' ? 'disabled' : boardPath }, 'ops server listening');

  return {
    url,
    setQueues: board.setQueues,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive connections would hold close() open; a request still running gets its answer.
        server.closeIdleConnections();
      }),
  };
}

/** Answers 500 without details: an error's message is logged, never sent, and no request data is. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    logger.error({ err: error, path: req.path }, 'ops request failed');
    if (res.headersSent) return next(error);
    res.status(500).json({ error: 'internal error' });
  };
}

function urlOf(address: AddressInfo): string {
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}
