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
 * MONGODB_URI and REDIS_URL when all are set (docker-compose, CI-provided services), or against the
 * local stack when none is, which is started here when it is not running (idempotent, fast when
 * warm). Some but not all set is refused: the tests would silently mix two stacks.
 */
export default function setup(project: TestProject): void {
  const set = serviceVariables.filter((name) => process.env[name]);
  let services: Record<string, string>;
  if (set.length === serviceVariables.length) {
    services = Object.fromEntries(serviceVariables.map((name) => [name, process.env[name]!]));
  } else if (set.length === 0) {
    execFileSync('bash', ['scripts/stack.sh', 'up'], { cwd: projectRoot, stdio: 'inherit' });
    services = readStackEnv();
  } else {
    throw new Error(`set all of ${serviceVariables.join(', ')} to test against your own services, or none to use the local stack (set: ${set.join(', ')})`);
  }
  project.provide('services', services as Record<(typeof serviceVariables)[number], string>);
}
