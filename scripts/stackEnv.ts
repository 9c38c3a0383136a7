import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serviceVariables } from '../shared/config.ts';

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** The `KEY=value` lines scripts/stack.sh writes to .stack/env. */
export function readStackEnv(path = `${projectRoot}.stack/env`): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#') && line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/**
 * When none of the four service variables is set, points this process at the local stack:
 * `start` brings it up first (npm start, the benchmark); otherwise its .stack/env is used if it
 * exists (the shell tools). Returns whether the local stack is used.
 */
export function useLocalStackWhenUnconfigured(options: { start: boolean }): boolean {
  if (serviceVariables.some((name) => process.env[name])) return false;
  // In production nothing is installed or started: the configuration check names what is missing.
  if (process.env['NODE_ENV'] === 'production') return false;
  if (options.start) execFileSync('bash', [`${projectRoot}scripts/stack.sh`, 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  else if (!existsSync(`${projectRoot}.stack/env`)) return false;
  // A variable set by the caller (CLAIM_KEY_SECRET, say) wins over the stack's.
  for (const [name, value] of Object.entries(readStackEnv())) if (!process.env[name]) process.env[name] = value;
  return true;
}
