// Asks one service of the stack whether it really answers, through its own protocol, and prints
// what it is and its version. Exit code 0 when it answers. Used by scripts/stack.sh.
//
//   node scripts/stackProbe.ts kafka|registry|mongodb|redis <url>
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { withoutTrailingSlashes } from '../shared/config.ts';
import { basicAuthHeader, fetchWithCredentials, redactSecrets, redactUrl, secretsOf } from '../shared/serviceUrls.ts';

const TIMEOUT_MS = 2_000;

async function probeKafka(brokers: string): Promise<string> {
  const kafka = new Kafka({
    clientId: 'stack-probe',
    brokers: brokers.split(','),
    connectionTimeout: TIMEOUT_MS,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    // Topic metadata needs a working controller and metadata log, not only an open port.
    await admin.listTopics();
    return `Apache Kafka, cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s)`;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function probeRegistry(url: string): Promise<string> {
  const base = withoutTrailingSlashes(url);
  const subjects = await fetchWithCredentials(`${base}/subjects`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!subjects.ok) throw new Error(`GET /subjects answered ${subjects.status}`);
  // Apicurio tells its name and version; a Confluent registry answers /v1/metadata/version.
  const origin = new URL(base).origin;
  const apicurio = await fetch(`${origin}/apis/registry/v3/system/info`, { headers: basicAuthHeader(base), signal: AbortSignal.timeout(TIMEOUT_MS) }).catch(() => undefined);
  if (apicurio?.ok) {
    const info = (await apicurio.json()) as { name?: string; version?: string };
    return `${info.name ?? 'Apicurio Registry'} ${info.version ?? '?'}`;
  }
  const confluent = await fetchWithCredentials(`${base}/v1/metadata/version`, { signal: AbortSignal.timeout(TIMEOUT_MS) }).catch(() => undefined);
  if (confluent?.ok) {
    const info = (await confluent.json()) as { version?: string };
    return `Confluent Schema Registry ${info.version ?? '?'}`;
  }
  return 'Confluent-compatible schema registry';
}

async function probeMongo(uri: string): Promise<string> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: TIMEOUT_MS, connectTimeoutMS: TIMEOUT_MS });
  try {
    await client.connect();
    const info = await client.db('admin').command({ buildInfo: 1 });
    // buildInfo is answered without the storage backend; a real read proves the backend answers too
    // (a wedged FerretDB answers buildInfo and hangs on everything else).
    await Promise.race([
      client.db('stack_probe').collection('probe').findOne({}),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the storage backend does not answer')), TIMEOUT_MS)),
    ]);
    const ferret = info['ferretdbVersion'] ?? (info['ferretdbFeatures'] ? '?' : undefined);
    return ferret ? `FerretDB ${String(ferret)} (MongoDB ${String(info['version'])} wire)` : `MongoDB ${String(info['version'])}`;
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function probeRedis(url: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    return `Redis ${version}`;
  } finally {
    redis.disconnect();
  }
}

const probes: Record<string, (url: string) => Promise<string>> = {
  kafka: probeKafka,
  registry: probeRegistry,
  mongodb: probeMongo,
  redis: probeRedis,
};

const [service, url] = process.argv.slice(2);
const probe = service ? probes[service] : undefined;
if (!probe || !url) {
  console.error('usage: node scripts/stackProbe.ts kafka|registry|mongodb|redis <url>');
  process.exit(2);
}
try {
  console.log(await probe(url));
  process.exit(0);
} catch (error) {
  // Never the credentials of the URL, nor a password an error may quote.
  console.error(`${service} at ${redactUrl(url)}: ${redactSecrets(error instanceof Error ? error.message : String(error), secretsOf([url]))}`);
  process.exit(1);
}
