// `npm start`: with none of KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGODB_URI, REDIS_URL set, brings
// the local stack up (scripts/stack.sh) and uses its URLs; with them set, uses those. Then runs
// the suite in this process.
import { main } from '../workers/suite.ts';
import { useLocalStackWhenUnconfigured } from './stackEnv.ts';

if (useLocalStackWhenUnconfigured({ start: true })) {
  // Local use: without credentials the dashboard is disabled rather than the start refused.
  if (!process.env['BOARD_USER'] && !process.env['BOARD_PASSWORD'] && !process.env['BOARD_DISABLED']) {
    process.env['BOARD_DISABLED'] = 'true';
    console.error('[start] local stack: bull-board disabled (set BOARD_USER and BOARD_PASSWORD to enable it)');
  }
}
await main(process.env);
