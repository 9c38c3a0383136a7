// `npm start`: with none of KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGODB_URI, REDIS_URL set, brings
// the local stack up (scripts/stack.sh) and uses its URLs; with them set, uses those. Then runs
// the suite in this process. With NODE_ENV=production the local stack is never started: the
// configuration check stops the process naming the missing variables.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { main } from '../app/main.ts';
import { projectRoot, useLocalStackWhenUnconfigured } from './stackEnv.ts';

/**
 * The dashboard's credentials on the local stack, when none are given: generated once, kept in
 * .stack/ (readable by the owner only), and shown when generated, so that a newcomer sees the
 * dashboard. Production requires them (the suite refuses to start without).
 */
function localBoardCredentials(): void {
  if (process.env['BOARD_USER'] || process.env['BOARD_PASSWORD'] || process.env['BOARD_DISABLED']) return;
  const file = `${projectRoot}.stack/board-password`;
  const fresh = !existsSync(file);
  if (fresh) writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  process.env['BOARD_USER'] = 'admin';
  process.env['BOARD_PASSWORD'] = readFileSync(file, 'utf8').trim();
  const port = process.env['OPS_PORT'] ?? '3000';
  const where = port === '0' ? "/admin/queues on the ops server's port" : `http://127.0.0.1:${port}/admin/queues`;
  console.error(
    fresh
      ? `[start] local stack: the dashboard is at ${where}, user admin, password ${process.env['BOARD_PASSWORD']} (kept in .stack/board-password)`
      : `[start] local stack: the dashboard is at ${where}, user admin, password in .stack/board-password`,
  );
}

if (useLocalStackWhenUnconfigured({ start: true })) localBoardCredentials();
await main(process.env);
