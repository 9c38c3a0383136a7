// The image, the compose file and the Kubernetes example cannot be run here (no container engine):
// they are checked statically against the tree, so that a rename or a new required variable
// cannot leave them behind unnoticed.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { serviceVariables } from '../../shared/config.ts';
import { projectRoot } from '../../scripts/stackEnv.ts';

const read = (path: string) => readFileSync(`${projectRoot}${path}`, 'utf8');
const dockerfile = read('Dockerfile')
  .split('\n')
  .filter((line) => line.trim() && !line.trimStart().startsWith('#'));
const instructions = (name: string) => dockerfile.filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());

describe('the container image (Dockerfile)', () => {
  it('copies only what exists in the tree', () => {
    const sources = instructions('COPY')
      .filter((args) => !args.startsWith('--from'))
      .flatMap((args) => args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(existsSync(`${projectRoot}${source}`), source).toBe(true);
  });

  it('copies every source folder the imports of the entry point reach', () => {
    const [command] = instructions('CMD');
    const entry = (JSON.parse(command!) as string[])[1]!;
    const copied = instructions('COPY')
      .filter((args) => !args.startsWith('--from'))
      .flatMap((args) => args.split(/\s+/).slice(0, -1));
    const seen = new Set<string>();
    const pending = [entry];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      for (const [, specifier] of read(file).matchAll(/from '(\.{1,2}\/[^']+\.ts)'/g)) pending.push(relative(projectRoot, resolve(projectRoot, dirname(file), specifier!)));
    }
    const folders = new Set([...seen].map((file) => file.split('/')[0]!));
    expect(folders.size).toBeGreaterThan(1);
    for (const folder of folders) expect(copied, folder).toContain(folder);
  });

  it('starts the suite\'s entry point with Node 24, as a user other than root, in production', () => {
    for (const base of instructions('FROM')) expect(base).toMatch(/^node:24/);
    const [command] = instructions('CMD');
    const argv = JSON.parse(command!) as string[];
    expect(argv[0]).toBe('node');
    expect(existsSync(`${projectRoot}${argv[1]}`)).toBe(true);
    expect(read(argv[1]!)).toContain('import.meta.main');
    const user = instructions('USER').at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(instructions('ENV').join(' ')).toContain('NODE_ENV=production');
  });

  it('installs without the dev dependencies (Node comes from the base image), the KafkaJS patch included', () => {
    expect(instructions('RUN').some((run) => run.includes('npm ci --omit=dev'))).toBe(true);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const file of scripts['postinstall']!.split(/\s+/).filter((part) => part.endsWith('.ts'))) expect(instructions('COPY').some((copy) => copy.startsWith(file))).toBe(true);
  });
});

type ComposeService = { healthcheck?: unknown; restart?: string; depends_on?: Record<string, { condition: string }>; environment?: Record<string, string>; volumes?: string[] };

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };

  it('runs the suite after every service is healthy, with the same variable names as the local stack', () => {
    const suite = compose.services['suite']!;
    expect(Object.keys(suite.depends_on ?? {}).sort()).toEqual(['kafka', 'mongodb', 'redis', 'schema-registry']);
    for (const dependency of Object.values(suite.depends_on ?? {})) expect(dependency.condition).toBe('service_healthy');
    for (const name of [...serviceVariables, 'CLAIM_KEY_SECRET', 'BOARD_USER', 'BOARD_PASSWORD']) expect(suite.environment, name).toHaveProperty(name);
    expect(suite.environment?.['NODE_ENV']).toBe('production');
  });

  it('gives every service a healthcheck and a restart policy; Kafka keeps its log on its volume', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck, name).toBeDefined();
      expect(service.restart, name).toBe('unless-stopped');
    }
    const kafka = compose.services['kafka']!;
    const logDir = kafka.environment?.['KAFKA_LOG_DIRS'];
    expect(kafka.volumes?.some((volume) => volume.endsWith(`:${logDir}`))).toBe(true);
  });
});

describe('the Kubernetes example (deploy/kubernetes.yaml)', () => {
  type Container = { env?: { name: string; value: string }[]; livenessProbe?: { httpGet: { path: string } }; readinessProbe?: { httpGet: { path: string } } };
  type Manifest = { kind: string; spec?: { template: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } } } };
  const manifests = parseAllDocuments(read('deploy/kubernetes.yaml')).map((document) => document.toJS() as Manifest);

  it('runs each worker role in a Deployment of its own, probed on /healthz and /readyz, with time to drain', () => {
    const deployments = manifests.filter((manifest) => manifest.kind === 'Deployment');
    const roles = deployments.map((deployment) => deployment.spec!.template.spec.containers[0]!.env!.find((variable) => variable.name === 'WORKERS')!.value);
    expect(roles.sort()).toEqual(['deletion', 'profile', 'scheduler']);
    for (const deployment of deployments) {
      const { terminationGracePeriodSeconds, containers } = deployment.spec!.template.spec;
      expect(terminationGracePeriodSeconds).toBeGreaterThan(10);
      expect(containers[0]!.livenessProbe!.httpGet.path).toBe('/healthz');
      expect(containers[0]!.readinessProbe!.httpGet.path).toBe('/readyz');
    }
    expect(manifests.some((manifest) => manifest.kind === 'Secret')).toBe(true);
  });
});
