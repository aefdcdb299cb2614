#!/usr/bin/env node
// Serves a worker locally on workerd through Miniflare alone: the local
// runtime of `wrangler dev`, without wrangler's proxy in front of it.
//
//   node scripts/serve.mjs [--config wrangler.toml] [--ip 127.0.0.1] [--port 8787]
//       [--persist-to DIR] [--var NAME:VALUE]... [--data-centre PORT:NAME]...
//       [--inspector-port PORT] [--test-scheduled] [--watch] [--no-build]
//
// Why not `wrangler dev`: wrangler dev puts a proxy worker in a second workerd
// in front of the user's (node_modules/wrangler/templates/startDevWorker/
// ProxyWorker.ts: `fetch(userWorkerUrl, new Request(request, ...))`). Re-sent
// over HTTP, a request body of unknown length goes out chunked, and when the
// client cuts it off workerd still ends that outgoing body cleanly (kj's
// HttpChunkedEntityWriter writes the last, empty chunk when it is dropped):
// the worker reads a truncated upload as a complete one. Here the client
// talks to the worker's own workerd, as in production, and a cut-off body is
// an error in the worker.
//
// Same configuration as `wrangler dev`: wrangler.toml read by wrangler itself
// (unstable_getMiniflareWorkerOptions: vars and .dev.vars, D1, R2, KV,
// Queues producers and consumers, Durable Objects, service bindings, module
// rules, compatibility date/flags), `--var` overrides, the `[build] command`
// run first, local state under `<persist-to>/v3` exactly where wrangler keeps
// it (so `wrangler d1 ... --local --persist-to DIR` and `wrangler r2 object
// ... --local --persist-to DIR` see the same data), wrangler dev's request
// body draining and, with --test-scheduled, its GET /__scheduled?cron=...
// (see entryModule). --watch rebuilds and reloads when the `[build]
// watch_dir` (default src) changes, as wrangler dev does.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const wrangler = require("wrangler");
// The Miniflare that this wrangler depends on (pinned in package-lock.json),
// resolved from wrangler's own location so both always agree.
const { Miniflare, Log, LogLevel } = createRequire(require.resolve("wrangler/package.json"))("miniflare");

function usage(message) {
  console.error(`serve.mjs: ${message}`);
  process.exit(2);
}

const args = { config: "wrangler.toml", ip: "127.0.0.1", port: 8787, persistTo: null, vars: {}, dataCentres: [] };
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  const value = () => {
    if (i + 1 >= process.argv.length) usage(`${arg} needs a value`);
    return process.argv[++i];
  };
  if (arg === "--config" || arg === "-c") args.config = value();
  else if (arg === "--ip") args.ip = value();
  else if (arg === "--port") args.port = Number(value());
  else if (arg === "--persist-to") args.persistTo = value();
  else if (arg === "--var") {
    const pair = value();
    const colon = pair.indexOf(":");
    if (colon < 1) usage(`--var wants NAME:VALUE, got ${pair}`);
    args.vars[pair.slice(0, colon)] = pair.slice(colon + 1);
  } else if (arg === "--data-centre") {
    // PORT:NAME (repeatable): another data centre of the same deployment.
    const pair = value();
    const colon = pair.indexOf(":");
    const port = Number(pair.slice(0, colon));
    const name = pair.slice(colon + 1);
    if (colon < 1 || !Number.isInteger(port) || port < 1 || port > 65535 || !/^[A-Za-z0-9-]+$/.test(name)) {
      usage(`--data-centre wants PORT:NAME (NAME of letters, digits and -), got ${pair}`);
    }
    args.dataCentres.push({ port, name });
  } else if (arg === "--inspector-port") {
    // The V8 inspector (DevTools protocol) of the workers, for CPU profiles
    // (scripts/bench.d/cpu-profile.mjs).
    args.inspectorPort = Number(value());
    if (!Number.isInteger(args.inspectorPort) || args.inspectorPort < 1 || args.inspectorPort > 65535) {
      usage("--inspector-port wants a port number");
    }
  } else if (arg === "--test-scheduled") args.testScheduled = true;
  else if (arg === "--watch") args.watch = true;
  else if (arg === "--no-build") args.noBuild = true;
  else usage(`unknown argument ${arg}`);
}
if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) usage("--port wants a port number");

const configPath = path.resolve(args.config);
const projectDir = path.dirname(configPath);
const config = wrangler.unstable_readConfig({ config: configPath });
// wrangler's default: .wrangler/state next to the configuration.
const persistDir = args.persistTo ? path.resolve(args.persistTo) : path.join(projectDir, ".wrangler", "state");

// The `[build] command`, run the way wrangler runs it (a shell, in the
// configuration's directory unless [build] cwd says otherwise).
function build() {
  const command = config.build?.command;
  if (!command) return true;
  console.log(`Running custom build: ${command}`);
  const cwd = config.build.cwd ? path.resolve(projectDir, config.build.cwd) : projectDir;
  const result = spawnSync(command, { shell: true, cwd, stdio: "inherit" });
  if (result.status !== 0) console.error(`serve.mjs: the build command failed (${result.status ?? result.signal})`);
  return result.status === 0;
}

// The entry module Miniflare loads: the worker's own main, wrapped the way
// wrangler dev wraps it (node_modules/wrangler/templates/middleware/:
// loader-modules.ts with middleware-ensure-req-body-drained.ts and, for
// --test-scheduled, middleware-scheduled.ts), so the worker behaves as it
// does under wrangler dev:
// - a request body the worker left unread is read to its end before the
//   response goes out, so the connection can carry the next request (workerd
//   closes it otherwise, and keep-alive clients see a reset);
// - GET /__scheduled?cron=... runs the scheduled handler.
function entryModule(mainSpecifier) {
  const main = JSON.stringify(mainSpecifier);
  return `import ENTRY from ${main};
export * from ${main};

const TEST_SCHEDULED = ${Boolean(args.testScheduled)};

async function drain(request) {
  try {
    if (request.body !== null && !request.bodyUsed) {
      const reader = request.body.getReader();
      while (!(await reader.read()).done) {}
    }
  } catch (e) {
    console.error("Failed to drain the unused request body.", e);
  }
}

function scheduledController(request) {
  if (!TEST_SCHEDULED) return null;
  const url = new URL(request.url);
  if (url.pathname !== "/__scheduled") return null;
  return { scheduledTime: Date.now(), cron: url.searchParams.get("cron") ?? "", noRetry() {} };
}

let wrapped = ENTRY;
if (typeof ENTRY === "function") {
  // A WorkerEntrypoint class: extended, so its other methods stay callable.
  wrapped = class extends ENTRY {
    async fetch(request) {
      const controller = scheduledController(request);
      if (controller) {
        await super.scheduled(controller);
        return new Response("Ran scheduled event");
      }
      try {
        return await super.fetch(request);
      } finally {
        await drain(request);
      }
    }
  };
} else if (typeof ENTRY === "object" && ENTRY !== null) {
  wrapped = {
    ...ENTRY,
    async fetch(request, env, ctx) {
      const controller = scheduledController(request);
      if (controller) {
        await ENTRY.scheduled(controller, env, ctx);
        return new Response("Ran scheduled event");
      }
      try {
        return await ENTRY.fetch(request, env, ctx);
      } finally {
        await drain(request);
      }
    },
  };
}
export default wrapped;
`;
}

// Another data centre of the same deployment (--data-centre PORT:NAME): the
// same worker again in this runtime, on its own port, with DATA_CENTRE set
// to NAME (the catalog's name for where a request is served, request.cf.colo
// on Cloudflare) and the same D1, R2, Queues producers and edge cache, as
// every data centre shares them on Cloudflare. One runtime, because two
// workerd processes on one local state fail each other's D1 writes
// (SQLITE_BUSY). A queue has one consumer: the first worker's.
function dataCentre(worker, { port, name }) {
  return {
    ...worker,
    name: `${worker.name}-${name}`,
    bindings: { ...worker.bindings, DATA_CENTRE: name },
    queueConsumers: undefined,
    triggers: undefined,
    unsafeDirectSockets: [{ host: args.ip, port }],
  };
}

function options() {
  const { workerOptions, externalWorkers } = wrangler.unstable_getMiniflareWorkerOptions(config);
  // The wrapper stands (in memory) next to wrangler.toml and imports main
  // from disk; Miniflare follows the imports from there.
  const entryPath = path.join(projectDir, "__serve_entry.mjs");
  let mainSpecifier = path.relative(projectDir, config.main).split(path.sep).join("/");
  if (!mainSpecifier.startsWith(".")) mainSpecifier = `./${mainSpecifier}`;
  const worker = {
    ...workerOptions,
    name: config.name ?? "worker",
    modules: true,
    script: entryModule(mainSpecifier),
    scriptPath: entryPath,
    modulesRoot: projectDir,
    // wrangler bundles the modules with esbuild, which reads .js as ES
    // modules; Miniflare loads them as they are and would take .js for
    // CommonJS.
    modulesRules: [...workerOptions.modulesRules, { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    bindings: { ...workerOptions.bindings, ...args.vars },
  };
  return {
    host: args.ip,
    port: args.port,
    // Where wrangler dev keeps local state for --persist-to DIR.
    defaultPersistRoot: path.join(persistDir, "v3"),
    // The placeholder request.cf (wrangler dev fetches the real one and falls
    // back to this placeholder offline).
    cf: false,
    inspectorPort: args.inspectorPort,
    log: new Log(LogLevel.INFO),
    workers: [worker, ...args.dataCentres.map((dc) => dataCentre(worker, dc)), ...externalWorkers],
  };
}

if (!config.main) usage(`${args.config} has no main`);
// --no-build: the bundle a catalog started just before built is used as it
// is (scripts/test starts several catalogs of one tree).
if (!args.noBuild && !build()) process.exit(1);
const mf = new Miniflare(options());
const url = await mf.ready;
console.log(`Ready on ${url.href.replace(/\/$/, "")}`);
for (const { port, name } of args.dataCentres) console.log(`Data centre ${name} on http://${args.ip}:${port}`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    // workerd gets the signal too when the whole process group is stopped;
    // don't let a stuck dispose() keep this process alive.
    setTimeout(() => process.exit(0), 3000).unref();
    await mf.dispose().catch(() => {});
    process.exit(0);
  });
}

if (args.watch && config.build?.command) {
  // Polled (once a second) rather than fs.watch, whose recursive mode on
  // Linux misses files that editors save by renaming a new copy over them.
  const dir = path.resolve(projectDir, config.build.watch_dir ?? "src");
  const label = path.relative(projectDir, dir) || ".";
  const state = persistDir + path.sep;
  const snapshot = () => {
    const entries = [];
    for (const file of readdirSync(dir, { recursive: true })) {
      // Local state and installed packages are not sources.
      if (/(^|[\\/])(node_modules|\.wrangler)([\\/]|$)/.test(file)) continue;
      if (path.join(dir, file).startsWith(state)) continue;
      try {
        const stat = statSync(path.join(dir, file));
        if (stat.isFile()) entries.push(`${file}:${stat.size}:${stat.mtimeMs}`);
      } catch {
        // Removed while listing: the next poll sees it gone.
      }
    }
    return entries.sort().join("\n");
  };
  let last = snapshot();
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    const now = snapshot();
    if (now === last) return;
    busy = true;
    last = now;
    try {
      console.log(`Change in ${label}: rebuilding`);
      if (build()) {
        await mf.setOptions(options());
        console.log("Reloaded");
      }
    } catch (e) {
      console.error("serve.mjs: reload failed:", e);
    } finally {
      busy = false;
    }
  }, 1000);
  console.log(`Watching ${label} for changes`);
}
