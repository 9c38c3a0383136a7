import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router } from 'express';
import type { Config } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { requireBasicAuth } from './basicAuth.ts';

/** How the dashboard is reached: with these credentials, not at all, or not configured (refused). */
export type BoardAccess = Config['ops']['board'];

export type Board = {
  /** Serves the dashboard under its base path (or 404 when it is disabled). */
  router: Router;
  /** Shows exactly these queues from now on. */
  setQueues: (queues: readonly Queue[]) => void;
};

/** Throws the start-up error for a dashboard with neither credentials nor BOARD_DISABLED. */
export function assertBoardConfigured(board: BoardAccess): asserts board is Exclude<BoardAccess, 'unset'> {
  if (board === 'unset') {
    throw new ConfigError(
      'BOARD_USER, BOARD_PASSWORD: required to protect the bull-board dashboard (/admin/queues) with basic auth; ' +
        'set BOARD_DISABLED=true to run without the dashboard (local use)',
    );
  }
}

/**
 * The bull-board dashboard behind basic auth. In read-only mode operators can look at jobs but not
 * retry, promote, clean or remove them.
 */
export function makeBoard(options: { basePath: string; board: BoardAccess; queues: readonly Queue[]; readOnly: boolean }): Board {
  const { board, basePath, readOnly } = options;
  assertBoardConfigured(board);
  const router = Router();
  if (board === 'disabled') {
    router.use((_req, res) => {
      res.status(404).json({ error: 'the dashboard is disabled (BOARD_DISABLED=true)' });
    });
    return { router, setQueues: () => undefined };
  }
  const adapt = (queues: readonly Queue[]) => queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: readOnly, allowRetries: !readOnly }));
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  const bullBoard = createBullBoard({
    queues: adapt(options.queues),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Customer profiles' } },
  });
  router.use(requireBasicAuth(board, 'bull-board'), serverAdapter.getRouter());
  return { router, setQueues: (queues) => bullBoard.replaceQueues(adapt(queues)) };
}
