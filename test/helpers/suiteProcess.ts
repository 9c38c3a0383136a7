// The suite as a real child process (`node app/main.ts`), so that a fault test can kill it
// with SIGKILL and start it again, and read its log afterwards. Used by test/faults/.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/stackEnv.ts';
import { waitFor } from './services.ts';

/** A free TCP port on 127.0.0.1 (for a child's OPS_PORT, so the test can ask its /readyz). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `MONGODB_URI` with its path (the database) replaced. */
export function withDatabase(mongoUri: string, database: string): string {
  const url = new URL(mongoUri);
  url.pathname = `/${database}`;
  return url.toString();
}

/** `tail`: the last output of that run (why it stopped, when it did so on its own). */
export type Exit = { at: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean; tail: string };

/**
 * One supervised suite process: `start()` spawns it (stdout and stderr appended to `logFile`),
 * `kill()` sends SIGKILL and waits for the exit, `restart()` starts a new one with the same
 * environment. Exits the test did not cause are recorded in `unexpectedExits`.
 */
export class SuiteProcess {
  readonly name: string;
  readonly port: number;
  readonly logFile: string;
  readonly exits: Exit[] = [];
  starts = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private killing = false;
  private log: WriteStream;
  private env: Record<string, string>;

  constructor(options: { name: string; port: number; env: Record<string, string>; logDir: string }) {
    this.name = options.name;
    this.port = options.port;
    this.env = options.env;
    mkdirSync(options.logDir, { recursive: true });
    this.logFile = join(options.logDir, `${options.name}.log`);
    this.log = createWriteStream(this.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get unexpectedExits(): Exit[] {
    return this.exits.filter((exit) => !exit.expected);
  }

  start(): void {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.starts++;
    this.log.write(`\n----- ${new Date().toISOString()} start #${this.starts}\n`);
    const child = spawn(process.execPath, ['app/main.ts'], {
      cwd: projectRoot,
      env: { ...(process.env as Record<string, string>), ...this.env, OPS_PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4_096);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exits.push({ at: Date.now(), code, signal, expected: this.killing, tail });
        this.log.write(`----- ${new Date().toISOString()} exit code=${code} signal=${signal}${this.killing ? ' (killed by the test)' : ' (UNEXPECTED)'}\n`);
        resolve();
      });
    });
  }

  /** GET /readyz answers 200: every worker of the process has started and every service answers. */
  ready(): Promise<boolean> {
    return this.answersOk('/readyz');
  }

  healthy(): Promise<boolean> {
    return this.answersOk('/healthz');
  }

  private async answersOk(path: string): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(3_000) });
      return response.status === 200;
    } catch {
      return false;
    }
  }

  async waitReady(timeoutMs = 90_000): Promise<void> {
    await waitFor(`${this.name} ready (log: ${this.logFile})`, async () => {
      if (!this.alive) throw new Error(`${this.name} exited`);
      return this.ready();
    }, { timeoutMs, intervalMs: 250 });
  }

  /** kill -9: no clean-up of any kind in the child. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive) return;
    this.killing = true;
    this.child!.kill(signal);
    await this.exited;
    this.killing = false;
  }

  async restart(): Promise<void> {
    await this.kill();
    this.start();
  }

  /** SIGTERM (graceful stop), then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) {
      this.log.end();
      return;
    }
    this.killing = true;
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.killing = false;
    this.log.end();
  }
}
