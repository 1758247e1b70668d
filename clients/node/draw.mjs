#!/usr/bin/env node
// A complete EDS-1 draw from Node.js over mTLS, generated at run time from the .proto
// files: CreateDraw, the requester's checks (eds1.mjs), and only then ExecuteDraw with a
// fresh 32-byte nonce. Prints one JSON object on stdout.
//
//   node draw.mjs --target localhost:50051 --ca ca.pem --cert client.pem --key client.key \
//       --log-vkey 'origin+1234abcd+AbCd...' --request request.json
//
// The pinned log key comes from a supervisor's trust.toml (--trust), or is given as is.
// Every option but --trust has an environment variable (EXPERT_DRAW_TARGET, _CA, _CERT, _KEY,
// _LOG_VKEY, _REQUEST, _PROTO_INCLUDE). Exit codes: 0 the draw was executed (or waits
// for its beacon round); 2 a requester check failed and no nonce was sent; 3 an RPC
// failed; 4 usage.

import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import { CheckError, checkCommit, parseVerifierKey } from "./eds1.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const PROTO = "expert_draw/api/v1/draw_service.proto";

const USAGE = `usage: node draw.mjs --target HOST:PORT --ca FILE --cert FILE --key FILE
       (--trust trust.toml | --log-vkey VKEY | --log-vkey-file FILE) --request FILE
       [--include DIR]... [--server-name NAME] [--delta-min N] [--min-seconds-left N] [--timeout S]`;

function options() {
  const { values } = parseArgs({
    options: {
      target: { type: "string", default: process.env.EXPERT_DRAW_TARGET },
      ca: { type: "string", default: process.env.EXPERT_DRAW_CA },
      cert: { type: "string", default: process.env.EXPERT_DRAW_CERT },
      key: { type: "string", default: process.env.EXPERT_DRAW_KEY },
      "log-vkey": { type: "string", default: process.env.EXPERT_DRAW_LOG_VKEY },
      "log-vkey-file": { type: "string" },
      trust: { type: "string" },
      request: { type: "string", default: process.env.EXPERT_DRAW_REQUEST },
      include: { type: "string", multiple: true, default: [] },
      "server-name": { type: "string" },
      "delta-min": { type: "string", default: "100" },
      "min-seconds-left": { type: "string", default: "0" },
      timeout: { type: "string", default: "30" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values["log-vkey-file"]) values["log-vkey"] = readFileSync(values["log-vkey-file"], "utf8").trim();
  if (values.trust) values["log-vkey"] = trustedKey(values.trust);
  for (const name of ["target", "ca", "cert", "key", "log-vkey", "request"]) {
    if (!values[name]) usage(`--${name} is required`);
  }
  return values;
}

/** The `log_vkey` of a trust.toml (audit-log-v1 §10): one `log_vkey = "..."` line. */
function trustedKey(path) {
  const m = /^log_vkey\s*=\s*"([^"\\]+)"\s*$/m.exec(readFileSync(path, "utf8"));
  if (!m) usage(`${path}: no log_vkey = "..." line`);
  return m[1];
}

function usage(message) {
  process.stderr.write(`draw.mjs: ${message}\n${USAGE}\n`);
  process.exit(4);
}

/** Where google/api/*.proto live: --include, EXPERT_DRAW_PROTO_INCLUDE, or .proto-deps. */
function includeDirs(given) {
  const dirs = [join(REPO, "proto"), ...given];
  if (process.env.EXPERT_DRAW_PROTO_INCLUDE) dirs.push(...process.env.EXPERT_DRAW_PROTO_INCLUDE.split(":"));
  dirs.push(join(REPO, ".proto-deps")); // `make proto-deps` copies the Google API protos there
  if (!dirs.some((d) => existsSync(join(d, "google/api/field_behavior.proto")))) {
    usage("google/api/field_behavior.proto not found: run `make proto-deps` or pass --include");
  }
  return dirs;
}

function loadService(dirs) {
  const definition = protoLoader.loadSync(PROTO, {
    includeDirs: dirs, keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).expert_draw.api.v1.DrawService;
}

// Timestamps in the request file may be RFC 3339 strings or {seconds, nanos}.
function timestamp(value) {
  if (typeof value !== "string") return value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) usage(`not an RFC 3339 time: ${value}`);
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function readRequest(path) {
  const request = JSON.parse(readFileSync(path, "utf8"));
  for (const name of ["evaluation_start_time", "evaluation_end_time"]) {
    if (name in request) request[name] = timestamp(request[name]);
  }
  request.request_id ||= `create-${randomUUID()}`;
  return request;
}

const call = (client, method, request, timeoutS) =>
  new Promise((ok, ko) => {
    client[method](request, { deadline: Date.now() + timeoutS * 1000 }, (err, response) =>
      err ? ko(Object.assign(err, { method })) : ok(response));
  });

const hex = (b) => Buffer.from(b ?? []).toString("hex");

function print(result) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

async function main() {
  const opts = options();
  let logKey;
  try {
    logKey = parseVerifierKey(opts["log-vkey"]);
  } catch (exc) {
    usage(`--log-vkey: ${exc.message}`);
  }
  const request = readRequest(opts.request);
  const DrawService = loadService(includeDirs(opts.include));
  const credentials = grpc.credentials.createSsl(
    readFileSync(opts.ca), readFileSync(opts.key), readFileSync(opts.cert));
  const channelOptions = opts["server-name"] ? { "grpc.ssl_target_name_override": opts["server-name"] } : {};
  const client = new DrawService(opts.target, credentials, channelOptions);
  const timeoutS = Number(opts.timeout);

  const result = { draw: null, state: null, checks: {}, nonce_sent: false };
  try {
    const created = await call(client, "CreateDraw", request, timeoutS);
    result.draw = created.draw.name;
    result.state = created.draw.state;
    // What the committed params must say, from the request alone.
    const expected = {
      disciplines: request.disciplines.map((d) => ({
        code: d.discipline.split("/").pop(), seats: d.seats, reserves: d.reserves ?? 0,
        maxReplacements: d.max_replacements ?? null,
      })),
      beacon: Boolean(request.use_beacon),
      drawId: request.draw_id || null,
      supersedes: (request.supersedes ?? "").replace(/^draws\//, ""),
      overrideSeq: request.override_seq ?? 0,
    };
    const passed = [];
    let checked;
    try {
      checked = checkCommit({
        entryBytes: created.commit_entry, receiptText: created.commit_receipt, draw: created.draw,
        logKey, expected, nowS: Math.floor(Date.now() / 1000),
        deltaMin: Number(opts["delta-min"]), minSecondsLeft: Number(opts["min-seconds-left"]), passed,
      });
    } catch (exc) {
      if (!(exc instanceof CheckError)) throw exc;
      // A failed check names itself; the checks before it passed.
      for (const name of passed) result.checks[name] = "pass";
      result.checks[exc.check] = "fail";
      result.failed_check = exc.check;
      result.error = exc.message;
      print(result);
      process.stderr.write(`draw.mjs: requester check "${exc.check}" failed: ${exc.message}; the nonce was NOT sent\n`);
      return 2;
    }
    for (const name of checked.passed) result.checks[name] = "pass";
    if (!checked.params.beacon) result.checks.beacon = "not used";
    result.params_hash = hex(created.draw.params_hash);
    result.commit_digest = hex(created.draw.commit_digest);
    result.round = checked.round;
    result.seconds_left = checked.secondsLeft;

    // Only now does the nonce exist: chosen after the commit was proven.
    const nonce = randomBytes(32);
    result.nonce_sent = true;
    result.nonce = hex(nonce);
    const executed = await call(client, "ExecuteDraw",
      { name: created.draw.name, nonce, request_id: `execute-${randomUUID()}` }, timeoutS);
    result.state = executed.draw.state;
    result.seats = executed.draw.seats.map((s) => ({ code: s.code, pseudonyms: s.pseudonyms.map(hex) }));
    result.panel = executed.panel.map((m) => ({
      pseudonym: hex(m.pseudonym), code: m.code, expert: m.expert, full_name: m.full_name, phone: m.phone,
    }));
    print(result);
    return 0;
  } catch (err) {
    result.rpc_error = { method: err.method, code: err.code, details: err.details };
    print(result);
    process.stderr.write(`draw.mjs: ${err.method ?? "call"} failed: ${err.details ?? err.message}\n`);
    return 3;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
