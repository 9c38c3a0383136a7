import { redactSecrets } from '../../shared/serviceUrls.ts';

/**
 * One readiness check: resolves when its dependency answers, throws (with a message saying why)
 * when it does not. The signal aborts when the check has taken too long, so that an I/O call can
 * stop too; checks that cannot be cancelled may ignore it.
 */
export type ReadinessCheck = (signal: AbortSignal) => Promise<void>;

export type CheckResult = { status: 'ok' } | { status: 'failing'; error: string };

export type Readiness = { status: 'ok' | 'failing'; checks: Record<string, CheckResult> };

/**
 * Runs every check at once, each bounded by `timeoutMs`; ready when all of them passed. An error's
 * text is shown without URL credentials and without any of `secrets` (/readyz has no auth).
 */
export async function runChecks(checks: Readonly<Record<string, ReadinessCheck>>, timeoutMs: number, secrets: readonly string[] = []): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => [name, await runCheck(check, timeoutMs, secrets)] as const),
  );
  return {
    status: results.every(([, result]) => result.status === 'ok') ? 'ok' : 'failing',
    checks: Object.fromEntries(results),
  };
}

async function runCheck(check: ReadinessCheck, timeoutMs: number, secrets: readonly string[]): Promise<CheckResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`timed out after ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    // Through then() so that a check throwing synchronously fails like one rejecting.
    await Promise.race([Promise.resolve().then(() => check(controller.signal)), timedOut]);
    return { status: 'ok' };
  } catch (error) {
    return { status: 'failing', error: redactSecrets(describeError(error), secrets) };
  } finally {
    clearTimeout(timer);
  }
}

/** The message, with its cause's when there is one ("fetch failed" alone says little). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  const message = error.message || error.name;
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}
