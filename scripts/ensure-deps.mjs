// Makes `npm start`, `npm test` and `npm run bench` work on a fresh clone:
// installs dependencies when node_modules is missing or older than the lock file,
// then compiles the TypeScript sources to dist/.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const run = (cmd) => execSync(cmd, { stdio: 'inherit' });
const stamp = 'node_modules/.package-lock.json';
const lock = existsSync('package-lock.json') ? 'package-lock.json' : 'package.json';
if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(lock).mtimeMs) {
  run(existsSync('package-lock.json') ? 'npm ci --no-audit --no-fund' : 'npm install --no-audit --no-fund');
}
run('npx --no-install tsc -p tsconfig.json');
