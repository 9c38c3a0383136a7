import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { serviceVariables } from '../../shared/config.ts';
import { projectRoot, readStackEnv } from '../../scripts/stackEnv.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: Record<(typeof serviceVariables)[number], string>;
  }
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
    execFileSync('bash', ['scripts/stack.sh', 'up'], { cwd: projectRoot, stdio: 'inherit' });
    services = readStackEnv();
  }
  project.provide('services', services as Record<(typeof serviceVariables)[number], string>);
}
