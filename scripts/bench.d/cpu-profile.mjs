#!/usr/bin/env node
// Where a worker's CPU goes for one kind of request: samples the worker's
// isolate through the V8 inspector while a load command runs, then prints
// the samples per request by kind of code (and writes the .cpuprofile,
// which Chrome's DevTools open).
//
//   node --experimental-websocket scripts/bench.d/cpu-profile.mjs \
//       --inspector-port 9241 --worker edge-glance --requests-from-wrk \
//       --out target/bench/show.cpuprofile -- wrk -t2 -c8 -d8s URL
//
// The worker runs under `scripts/serve.mjs --inspector-port 9241`. Function
// names of the wasm show only in a build that keeps them (Cargo profile
// `strip = false` and wasm-opt `-g`); the kinds below need no names.
// With --requests-from-wrk the request count is read from wrk's output
// ("N requests in"); else pass --requests N.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";

const args = { port: 9241, worker: "edge-glance", out: null, requests: null, fromWrk: false, command: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === "--") {
    args.command = argv.slice(i + 1);
    break;
  }
  if (arg === "--inspector-port") args.port = Number(argv[++i]);
  else if (arg === "--worker") args.worker = argv[++i];
  else if (arg === "--out") args.out = argv[++i];
  else if (arg === "--requests") args.requests = Number(argv[++i]);
  else if (arg === "--requests-from-wrk") args.fromWrk = true;
  else {
    console.error(`cpu-profile.mjs: unknown argument ${arg}`);
    process.exit(2);
  }
}
if (args.command.length === 0) {
  console.error("cpu-profile.mjs: give the load command after --");
  process.exit(2);
}

const targets = await (await fetch(`http://127.0.0.1:${args.port}/json`)).json();
const target = targets.find((t) => t.id === `core:user:${args.worker}`);
if (!target) {
  console.error(`cpu-profile.mjs: no worker ${args.worker} on the inspector (${targets.map((t) => t.id).join(", ")})`);
  process.exit(1);
}
const socket = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  socket.addEventListener("open", resolve);
  socket.addEventListener("error", reject);
});
let nextId = 0;
const waiting = new Map();
socket.addEventListener("message", (event) => {
  const message = JSON.parse(event.data);
  if (message.id && waiting.has(message.id)) {
    waiting.get(message.id)(message);
    waiting.delete(message.id);
  }
});
const call = (method, params = {}) =>
  new Promise((resolve) => {
    const id = ++nextId;
    waiting.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 50 });
await call("Profiler.start");
const output = await new Promise((resolve) => {
  const child = spawn(args.command[0], args.command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  child.stdout.on("data", (chunk) => {
    text += chunk;
    process.stdout.write(chunk);
  });
  child.on("exit", () => resolve(text));
});
const { result } = await call("Profiler.stop");
socket.close();
const profile = result.profile;
if (args.out) writeFileSync(args.out, JSON.stringify(profile));

let requests = args.requests;
if (args.fromWrk) requests = Number(/(\d+) requests in/.exec(output)?.[1]);
if (!requests) {
  console.error("cpu-profile.mjs: no request count (--requests N or --requests-from-wrk)");
  process.exit(1);
}

// Each sample's own frame, by kind of code.
function kind({ functionName, url }) {
  if (functionName === "(idle)") return "idle";
  if (functionName === "(program)" || functionName === "(garbage collector)") return functionName;
  if (url.startsWith("wasm://") || url.includes(".wasm") || functionName.startsWith("js-to-wasm") || functionName === "wasm-to-js") {
    return "wasm (Rust) and its boundary";
  }
  if (url.endsWith("index.js")) return "wasm-bindgen JS glue";
  if (url.startsWith("cloudflare-internal")) return "runtime JS (D1 API, tracing)";
  if (url === "") return "runtime built-ins (fetch, Response, Headers, request.cf...)";
  return `JS: ${url.split("/").pop()}`;
}
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const counts = new Map();
for (const id of profile.samples) {
  const name = kind(nodes.get(id).callFrame);
  counts.set(name, (counts.get(name) ?? 0) + 1);
}
const total = profile.samples.length;
const busy = total - (counts.get("idle") ?? 0);
console.log(`\n${requests} requests; ${total} samples (${(busy / requests).toFixed(2)} busy samples per request)`);
for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1])) {
  console.log(`${(count / requests).toFixed(2).padStart(7)} per request  ${((100 * count) / total).toFixed(1).padStart(5)}%  ${name}`);
}
