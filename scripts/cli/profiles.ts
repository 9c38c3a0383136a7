#!/usr/bin/env node
// The `profiles` operator CLI (package.json `bin`, through bin/profiles): `profiles --help`.
import { makeProgram } from './program.ts';

// Piped into `head` and the like: a closed stdout ends the run quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await makeProgram().run(process.argv.slice(2));
// A client's lingering timer or socket must not keep a finished command alive.
setTimeout(() => process.exit(), 2_000).unref();
