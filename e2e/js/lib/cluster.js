// Processes for the multi-node suite: `redis-server`, `nats-server` and several
// `chorus` nodes on free loopback ports, plus a TCP "load balancer" whose target
// can be switched. Every process started here is registered and killed by
// `killAll()` (call it from `after`) and, as a last resort, on process exit.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// As e2e/summarize.py: any CI value but '', 'false' and '0'.
export const IS_CI = !['', 'false', '0'].includes(process.env.CI || '');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ registry
const live = new Set();
// Every process started, in order (their logs are saved after the run).
export const started = [];
process.on('exit', () => {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A scratch directory removed by `killAll()`. */
const dirs = [];
export function scratchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** SIGKILLs every process still running and removes the scratch directories. */
export async function killAll() {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
  for (const dir of dirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Path of an executable in PATH or the usual sbin directories (nats-server is in
 * /usr/sbin on Debian), or null.
 */
export function findBinary(name) {
  const path = (process.env.PATH || '').split(delimiter).filter(Boolean);
  for (const dir of [...path, '/usr/sbin', '/usr/local/bin', '/usr/bin', '/sbin']) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The binary, or null (with a loud message) when it is missing outside CI; under
 * CI=true a missing service fails the test instead of skipping it.
 */
export function requireBinary(name) {
  const found = findBinary(name);
  if (found) return found;
  const msg = `${name} is not installed (scripts/install-deps installs it)`;
  if (IS_CI) {
    throw new Error(`${msg}; CI=true, so this test fails instead of skipping`);
  }
  console.warn(`\n*** SKIPPING multi-node e2e: ${msg} ***\n`);
  return null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// ------------------------------------------------------------------ processes
/** One child process with its output kept (bounded) for failure messages. */
class Proc {
  constructor(label, bin, args, env = undefined, spawnOptions = {}) {
    started.push(this);
    this.label = `${started.length}-${label}`;
    this.log = '';
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, ...spawnOptions });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited.then(() => live.delete(this));
    const keep = (d) => {
      this.log += d;
      if (this.log.length > 400_000) this.log = this.log.slice(-200_000);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    live.add(this);
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits (at most 5 s, then SIGKILL) for the exit. */
  async kill(signal = 'SIGKILL') {
    if (!this.running) return;
    this.child.kill(signal);
    const done = await Promise.race([this.exited, sleep(5000).then(() => null)]);
    if (!done) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** Resolves once `line` appears in the output; fails on exit or after `timeout`. */
  async waitLog(line, timeout = 10000) {
    const deadline = Date.now() + timeout;
    while (!this.log.includes(line)) {
      if (!this.running || Date.now() > deadline) {
        throw new Error(`${this.label} did not print ${JSON.stringify(line)} (running: ${this.running}):\n${this.tail()}`);
      }
      await sleep(20);
    }
  }

  tail(lines = 60) {
    return this.log.split('\n').slice(-lines).join('\n');
  }
}

/**
 * A `redis-server` on a free port. With `persistentDir`, every write goes to an
 * append-only file (fsync always), so `restart()` keeps the data as a production
 * Redis with persistence would; PUB/SUB connections are lost either way.
 */
export class Redis {
  static async start(bin, { persistentDir } = {}) {
    const r = new Redis(bin, persistentDir);
    for (let attempt = 0; ; attempt += 1) {
      r.port = await freePort();
      try {
        await r.spawn();
        return r;
      } catch (err) {
        // A free port can be taken between probing and binding.
        if (attempt >= 2) throw err;
      }
    }
  }

  constructor(bin, persistentDir) {
    this.bin = bin;
    this.dir = persistentDir;
    this.proc = null;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async spawn() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', ''];
    if (this.dir) {
      args.push('--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir);
    } else {
      args.push('--appendonly', 'no');
    }
    this.proc = new Proc(`redis-server :${this.port}`, this.bin, args);
    await this.proc.waitLog('Ready to accept connections');
  }

  /** SIGKILL: like a crash or a network cut. */
  async stop() {
    await this.proc.kill('SIGKILL');
  }

  /** Starts again on the same port (after `stop()`). */
  async startAgain() {
    await this.spawn();
  }
}

/** A `nats-server` on a free port. */
export async function startNats(bin) {
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const proc = new Proc(`nats-server :${port}`, bin, ['-a', '127.0.0.1', '-p', String(port)]);
    try {
      await proc.waitLog('Server is ready');
      return { proc, url: `nats://127.0.0.1:${port}` };
    } catch (err) {
      await proc.kill();
      if (attempt >= 2) throw err;
    }
  }
}

/**
 * A PostgreSQL server program: Debian keeps them in /usr/lib/postgresql/<major>/bin
 * (newest major first), else PATH.
 */
function pgBinary(name) {
  let majors = [];
  try {
    majors = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  } catch {
    // not Debian's layout
  }
  for (const major of majors) {
    const candidate = join('/usr/lib/postgresql', major, 'bin', name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this major
    }
  }
  return findBinary(name);
}

/**
 * A throw-away PostgreSQL (initdb into a scratch directory, trust auth for
 * user `postgres`) on a free port, or null when it is not installed outside
 * CI. Under root both programs run as the `postgres` user (PostgreSQL refuses
 * root). Returns { proc, port, dsn, sql(text) } where `sql` runs statements
 * through psql.
 */
export async function startPostgres() {
  const initdb = pgBinary('initdb');
  const postgres = pgBinary('postgres');
  const psql = findBinary('psql');
  if (!initdb || !postgres || !psql) {
    requireBinary('postgres (package postgresql)');
    return null;
  }
  const dir = scratchDir('chorus-postgres-');
  const owner = {};
  if (process.getuid && process.getuid() === 0) {
    owner.uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    owner.gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, owner.uid, owner.gid);
  }
  const data = join(dir, 'data');
  execFileSync(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    cwd: dir,
    stdio: 'pipe',
    ...owner,
  });
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const proc = new Proc(`postgres :${port}`, postgres, ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-F'], undefined, {
      cwd: dir,
      ...owner,
    });
    try {
      await proc.waitLog('database system is ready to accept connections');
    } catch (err) {
      await proc.kill();
      if (attempt >= 2) throw err;
      continue;
    }
    const sql = (text) =>
      new Promise((resolve, reject) => {
        execFile(
          psql,
          ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', text],
          (err, stdout, stderr) => (err ? reject(new Error(`psql: ${err.message}\n${stderr}`)) : resolve(stdout.trim())),
        );
      });
    return { proc, port, dsn: `host=127.0.0.1 port=${port} user=postgres dbname=postgres`, sql };
  }
}

/** A running `chorus` node: its ports, process and HTTP API. */
export class ChorusNode {
  /** Writes `config` (http_server is filled in) and waits for /health. */
  static async start(bin, name, config, { dir, apiKey, timeout = 10000 } = {}) {
    const port = await freePort();
    const full = { ...config, http_server: { address: '127.0.0.1', port }, node: { name } };
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(full, null, 2));
    // CHORUS_* variables are config overrides for chorus: the suites' own
    // (CHORUS_BIN, CHORUS_WS_URL, …) must not reach it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CHORUS_')));
    env.NO_COLOR = '1';
    if (process.env.E2E_DEBUG === '1') env.RUST_LOG = 'debug,hyper=info,tungstenite=info,h2=info';
    const proc = new Proc(`chorus ${name} :${port}`, bin, ['--config', path], env);
    const node = new ChorusNode(name, port, proc, apiKey);
    const deadline = Date.now() + timeout;
    let last = 'no answer';
    for (;;) {
      try {
        const r = await fetch(`${node.httpUrl}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return node;
        last = `HTTP ${r.status} ${await r.text()}`;
      } catch (err) {
        last = String(err); // not up yet
      }
      if (!proc.running || Date.now() > deadline) {
        await proc.kill();
        throw new Error(
          `chorus ${name} did not become healthy within ${timeout} ms (last /health: ${last}; exit ${proc.child.exitCode}):\n${proc.tail()}`,
        );
      }
      await sleep(50);
    }
  }

  constructor(name, port, proc, apiKey) {
    this.name = name;
    this.port = port;
    this.proc = proc;
    this.apiKey = apiKey;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }

  /** POST /api/<method>: { status, body } (body undefined unless JSON). */
  async api(method, body, { timeout = 5000 } = {}) {
    const res = await fetch(`${this.httpUrl}/api/${method}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': this.apiKey },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeout),
    });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, body: json };
  }

  /** An API call that must succeed: its `result`. */
  async apiOk(method, body) {
    const res = await this.api(method, body);
    if (res.status !== 200 || !res.body || res.body.error || typeof res.body.result !== 'object') {
      throw new Error(`${this.name}: API ${method} ${JSON.stringify(body)} → HTTP ${res.status} ${res.text}`);
    }
    return res.body.result;
  }
}

// ------------------------------------------------------------------ balancer
/**
 * A TCP forwarder standing in for a load balancer: each new connection goes to
 * the current target port; `down()` refuses new connections (accept, then
 * reset) until `to(port)` names the next backend. A connection whose backend
 * closes is closed too, so a dead node's clients see their connection drop.
 */
export class Balancer {
  static async start(targetPort) {
    const b = new Balancer(targetPort);
    await new Promise((resolve, reject) => {
      b.server.once('error', reject);
      b.server.listen(0, '127.0.0.1', resolve);
    });
    b.port = b.server.address().port;
    return b;
  }

  constructor(targetPort) {
    this.target = targetPort;
    this.sockets = new Set();
    this.accepted = [];
    this.server = net.createServer((down) => {
      this.sockets.add(down);
      down.on('close', () => this.sockets.delete(down));
      down.on('error', () => {});
      const target = this.target;
      this.accepted.push(target);
      if (target === null) {
        down.resetAndDestroy();
        return;
      }
      const up = net.connect(target, '127.0.0.1');
      this.sockets.add(up);
      up.on('close', () => {
        this.sockets.delete(up);
        down.destroy();
      });
      down.on('close', () => up.destroy());
      up.on('error', () => down.destroy());
      down.pipe(up);
      up.pipe(down);
    });
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }

  down() {
    this.target = null;
  }

  to(port) {
    this.target = port;
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
