import { z } from 'zod';
import { ConfigError } from './errors.ts';

const kafkaBrokers = z
  .string()
  .trim()
  .min(1)
  .transform((value) => value.split(',').map((broker) => broker.trim()))
  .pipe(z.array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port[,host:port…]')).min(1));

const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .url()
    .refine((value) => URL.canParse(value) && protocols.includes(new URL(value).protocol), `expected a ${protocols.join(' or ')} URL`);

/** Organisations served: `'all'`, or inclusive ranges of ids (a single id is a range of one). */
export type OrganisationIds = 'all' | readonly { from: number; to: number }[];

const organisationIdsMessage = 'expected organisation ids and ranges a-b, comma-separated (e.g. 1,5,10-20), each id > 0';
const organisationId = (text: string) => (/^\d{1,15}$/.test(text) && Number(text) > 0 ? Number(text) : null);

/** `1,5,10-20` → ranges; null for anything else (an empty entry, 0, a reversed range, letters). */
export function parseOrganisationIds(value: string): { from: number; to: number }[] | null {
  const ranges: { from: number; to: number }[] = [];
  for (const entry of value.split(',')) {
    const bounds = entry.trim().split('-');
    const from = organisationId(bounds[0]!.trim());
    const to = bounds.length === 2 ? organisationId(bounds[1]!.trim()) : bounds.length === 1 ? from : null;
    if (from === null || to === null || to < from) return null;
    ranges.push({ from, to });
  }
  return ranges;
}

/** Whether an organisation is among those served. */
export function servesOrganisation(organisations: OrganisationIds, id: number): boolean {
  return organisations === 'all' || organisations.some((range) => id >= range.from && id <= range.to);
}

const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** Environment variables of the suite, checked once at start-up. */
const envSchema = z.object({
  PROFILES_ENV: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,48}$/, 'lowercase letters, digits, . _ -').default('local'),
  KAFKA_BROKERS: kafkaBrokers,
  SCHEMA_REGISTRY_URL: url(['http:', 'https:']),
  MONGODB_URI: url(['mongodb:', 'mongodb+srv:']),
  REDIS_URL: url(['redis:', 'rediss:']),
  KAFKA_CLIENT_ID: z.string().min(1).default('customer-profiles'),
  COMMAND_PARTITIONS: positiveInt.default(6),
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000, 'at least 6000 (the broker minimum)').max(300_000).default(30_000),
  KAFKA_COMMIT_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
  EVENT_PARTITIONS: positiveInt.default(3),
  OPS_PORT: port.default(3000),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
  EXPIRATION_HORIZON_MS: z.coerce.number().int().min(2_000).max(86_400_000).default(300_000),
  ERASURE_CONCURRENCY: positiveInt.max(1024).default(256),
  ERASURE_LOCK_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  EVENT_MIN_COMPACTION_LAG_MS: z.coerce.number().int().min(0).max(31_536_000_000).default(3_600_000),
  EVENT_MAX_COMPACTION_LAG_MS: z.coerce.number().int().min(1_000).max(31_536_000_000).default(86_400_000),
  COMMAND_RETENTION_MS: z.coerce.number().int().min(60_000).max(31_536_000_000).default(604_800_000),
  DLQ_RETENTION_MS: z.coerce.number().int().min(60_000).max(31_536_000_000).default(1_209_600_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BOARD_USER: z.string().min(1).optional(),
  BOARD_PASSWORD: z.string().min(8, 'at least 8 characters').optional(),
  BOARD_DISABLED: bool.default(false),
  ORGANISATION_IDS: z
    .string()
    .max(10_000, { abort: true, message: 'at most 10000 characters' })
    .transform((value, context) => parseOrganisationIds(value) ?? (context.addIssue({ code: 'custom', message: organisationIdsMessage }), z.NEVER))
    .optional(),
  CLAIM_KEY_SECRET: z.string().min(32, 'at least 32 characters').optional(),
});

/**
 * Claim keys outside production when CLAIM_KEY_SECRET is unset (tests, a quick local run against
 * your own services). Public, so never a protection: with NODE_ENV=production the variable is required.
 */
export const developmentClaimKeySecret = 'development-only-claim-key-secret-not-for-production';

export type Config = {
  env: string;
  kafka: {
    brokers: string[];
    clientId: string;
    commandPartitions: number;
    eventPartitions: number;
    sessionTimeoutMs: number;
    /** How often, at most, the workers commit handled offsets (shared/kafka.ts, `commitIntervalMs`). */
    commitIntervalMs: number;
  };
  registryUrl: string;
  mongoUri: string;
  redisUrl: string;
  ops: { port: number; board: { user: string; password: string } | 'disabled' | 'unset' };
  expiry: { reconcileIntervalMs: number; horizonMs: number; erasureConcurrency: number; erasureLockMs: number };
  /** How long Kafka keeps what the suite writes (see shared/topicConfigs.ts). */
  retention: { eventMinCompactionLagMs: number; eventMaxCompactionLagMs: number; commandRetentionMs: number; dlqRetentionMs: number };
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  /** ORGANISATION_IDS: the organisations whose commands are served; others are UNKNOWN_ORGANISATION. */
  organisations: OrganisationIds;
  /** Key of the HMAC that turns emails and account ids into claim keys (shared/claims.ts). */
  claimKeySecret: string;
};

/**
 * A URL without its trailing slashes. A loop, not `replace(/\/+$/, '')`: that pattern is tried at
 * every slash of a run and takes quadratic time on a long run followed by anything else.
 */
export function withoutTrailingSlashes(url: string): string {
  let end = url.length;
  while (end > 0 && url[end - 1] === '/') end--;
  return url.slice(0, end);
}

/** The four service URLs; `npm start` brings the local stack up when none of them is set. */
export const serviceVariables = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'MONGODB_URI', 'REDIS_URL'] as const;

/**
 * Parses the environment once. Throws a {@link ConfigError} whose message names every bad or
 * missing variable, so the process can stop with it.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set", as in most shells' `VAR= command`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '?');
      const message = issue.code === 'invalid_type' && present[variable] === undefined ? 'is required' : issue.message;
      return `${variable}: ${message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  // Jobs are kept in Redis only for what is due within the horizon; each reconciliation must reach
  // past the next one, or an expiration could fall between two.
  if (e.EVENT_MAX_COMPACTION_LAG_MS < e.EVENT_MIN_COMPACTION_LAG_MS) {
    throw new ConfigError('invalid configuration: EVENT_MAX_COMPACTION_LAG_MS: must be at least EVENT_MIN_COMPACTION_LAG_MS');
  }
  if (e.EXPIRATION_HORIZON_MS < 2 * e.RECONCILE_INTERVAL_MS) {
    throw new ConfigError(`invalid configuration: EXPIRATION_HORIZON_MS: must be at least twice RECONCILE_INTERVAL_MS (${2 * e.RECONCILE_INTERVAL_MS})`);
  }
  if (!e.CLAIM_KEY_SECRET && present['NODE_ENV'] === 'production') {
    throw new ConfigError('invalid configuration: CLAIM_KEY_SECRET: is required with NODE_ENV=production');
  }
  const board =
    e.BOARD_DISABLED ? 'disabled' : e.BOARD_USER && e.BOARD_PASSWORD ? { user: e.BOARD_USER, password: e.BOARD_PASSWORD } : 'unset';
  return {
    env: e.PROFILES_ENV,
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      commandPartitions: e.COMMAND_PARTITIONS,
      eventPartitions: e.EVENT_PARTITIONS,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      commitIntervalMs: e.KAFKA_COMMIT_INTERVAL_MS,
    },
    registryUrl: withoutTrailingSlashes(e.SCHEMA_REGISTRY_URL),
    mongoUri: e.MONGODB_URI,
    redisUrl: e.REDIS_URL,
    ops: { port: e.OPS_PORT, board },
    expiry: { reconcileIntervalMs: e.RECONCILE_INTERVAL_MS, horizonMs: e.EXPIRATION_HORIZON_MS, erasureConcurrency: e.ERASURE_CONCURRENCY, erasureLockMs: e.ERASURE_LOCK_MS },
    retention: {
      eventMinCompactionLagMs: e.EVENT_MIN_COMPACTION_LAG_MS,
      eventMaxCompactionLagMs: e.EVENT_MAX_COMPACTION_LAG_MS,
      commandRetentionMs: e.COMMAND_RETENTION_MS,
      dlqRetentionMs: e.DLQ_RETENTION_MS,
    },
    logLevel: e.LOG_LEVEL,
    organisations: e.ORGANISATION_IDS ?? 'all',
    claimKeySecret: e.CLAIM_KEY_SECRET ?? developmentClaimKeySecret,
  };
}
