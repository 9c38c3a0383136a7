import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { serviceVariables } from '../../shared/config.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    services: Record<(typeof serviceVariables)[number], string>;
  }
}

/** Reads `KEY=value` lines as written by scripts/stack.sh. */
function readEnvFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#') && line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/**
 * Integration tests run against the services named by KAFKA_BROKERS, SCHEMA_REGISTRY_URL,
 * MONGODB_URI and REDIS_URL when all are set (docker-compose, CI-provided services); otherwise
 * against the local stack, which is started here when it is not running (idempotent, fast when warm).
 */
export default function setup(project: TestProject): void {
  const configured = serviceVariables.every((name) => process.env[name]);
  let services: Record<string, string>;
  if (configured) {
    services = Object.fromEntries(serviceVariables.map((name) => [name, process.env[name]!]));
  } else {
    execFileSync('bash', ['scripts/stack.sh', 'up'], { cwd: root, stdio: 'inherit' });
    services = readEnvFile(`${root}/.stack/env`);
  }
  project.provide('services', services as Record<(typeof serviceVariables)[number], string>);
}
