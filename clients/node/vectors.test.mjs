// The JS checks against the repository's spec vectors (node --test vectors.test.mjs).
import assert from "node:assert/strict";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  CheckError, canonicalBytes, checkCommit, commitDigest, dec, enc, escrowDigest, leafHash,
  parseCanonical, parseParams, parseVerifierKey, roundAt, roundTime, sha256, verifyReceipt,
} from "./eds1.mjs";

const VECTORS = new URL("../../tests/vectors/", import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, VECTORS), "utf8"));
const hexBuf = (h) => Buffer.from(h, "hex");

test("enc and round times (eds1/encodings.json)", () => {
  const v = load("eds1/encodings.json");
  for (const c of v.enc) {
    const fields = c.fields_hex.map(hexBuf);
    assert.equal(enc(...fields).toString("hex"), c.enc_hex, c.description);
    assert.deepEqual(dec(hexBuf(c.enc_hex), "enc").map((f) => f.toString("hex")), c.fields_hex);
  }
  for (const c of v.round_at) assert.equal(roundAt(c.t), BigInt(c.round_at));
  for (const c of v.time) assert.equal(roundTime(c.r), BigInt(c.time));
});

test("params and commitment (eds1/params.json)", () => {
  const v = load("eds1/params.json");
  for (const c of v.valid) {
    const p = parseParams(hexBuf(c.params_hex));
    assert.equal(sha256(hexBuf(c.params_hex)).toString("hex"), c.params_hash);
    assert.equal(p.drawId, c.fields.draw_id);
    assert.equal(p.delta, c.fields.delta);
    assert.equal(p.marginS, c.fields.margin_s);
    assert.equal(p.chainHash.toString("hex"), c.fields.drand_chain_hash);
    assert.deepEqual(p.disciplines.map((d) => [d.code, d.k, d.r, d.maxRepl]),
      c.fields.disciplines.map((d) => [d.d, d.k, d.r, d.max_repl]));
  }
  assert.equal(v.invalid.length, 8);
  for (const c of v.invalid) {
    assert.throws(() => parseParams(hexBuf(c.params_hex)),
      (e) => e instanceof CheckError && e.check === "params", c.description);
  }
  const m = v.commitment;
  const escrow = escrowDigest(m.envelopes.map(hexBuf));
  assert.equal(escrow.toString("hex"), m.escrow_digest);
  const digest = commitDigest({
    drawId: m.draw_id, poolRoot: hexBuf(m.pool_root), nElig: m.n_elig,
    excludedRoot: hexBuf(m.excluded_root), nExcl: m.n_excl, paramsHash: hexBuf(m.params_hash),
    cS: hexBuf(m.c_s), r: m.r, escrow,
  });
  assert.equal(digest.toString("hex"), m.commit_digest);
});

test("aud1 canonical JSON (audit_log/canonical.json)", () => {
  const v = load("audit_log/canonical.json");
  for (const c of v.valid) assert.deepEqual(parseCanonical(Buffer.from(c.canonical, "utf8")), c.value);
  for (const c of v.invalid) {
    assert.throws(() => parseCanonical(Buffer.from(c.text, "utf8")), undefined, c.description);
  }
});

test("receipts verify, and fail under another key or entry (audit_log/receipts.json)", () => {
  const keys = load("audit_log/keys.json");
  const key = parseVerifierKey(keys.log_vkey);
  assert.equal(key.keyId.toString("hex"), keys.key_id_hex);
  const receipts = load("audit_log/receipts.json");
  assert.equal(receipts.length, 11);
  for (const c of receipts) {
    const entry = Buffer.from(c.entry, "utf8");
    verifyReceipt(c.receipt, entry, keys.origin, [key]);
    const other = Buffer.concat([entry, Buffer.from(" ")]);
    assert.throws(() => verifyReceipt(c.receipt, other, keys.origin, [key]), /inclusion proof/);
  }
  // The same key name with another Ed25519 key: its ID differs, so no known key signed.
  const wrong = "vectors.expert-draw.example/log+00000000+" + Buffer.concat([Buffer.from([1]), Buffer.alloc(32, 7)]).toString("base64");
  assert.throws(() => parseVerifierKey(wrong), /key's ID/);
  const c = receipts[3];
  const flipped = c.receipt.replace(/— (\S+) (\S+)\n$/, (_, n, s) => {
    const blob = Buffer.from(s, "base64");
    blob[blob.length - 1] ^= 1;
    return `— ${n} ${blob.toString("base64")}\n`;
  });
  assert.notEqual(flipped, c.receipt);
  assert.throws(() => verifyReceipt(flipped, Buffer.from(c.entry, "utf8"), keys.origin, [key]), /does not verify/);
});

// -- checkCommit on commits signed here with the vectors' log key ----------------------

const KEYS = load("audit_log/keys.json");
const LOG_KEY = parseVerifierKey(KEYS.log_vkey);
const SIGNER = (() => {
  const blob = Buffer.from(KEYS.log_signer.split("+").slice(4).join("+"), "base64"); // 0x01 ‖ seed
  const x = Buffer.from(KEYS.log_vkey.split("+").slice(2).join("+"), "base64").subarray(1);
  return createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: blob.subarray(1).toString("base64url"), x: x.toString("base64url") },
    format: "jwk",
  });
})();
const PARAMS = load("eds1/params.json").valid; // [0] with a beacon, [1] without

/** A draw.commit entry, its receipt into a one-entry signed checkpoint, and the response. */
function commit({ paramsHex, r = 0, ts = 1_700_000_000_000, edit = (d) => d, entryEdit = (e) => e, bytesEdit = (b) => b }) {
  const params = hexBuf(paramsHex);
  const drawId = parseParams(params).drawId;
  const envelopes = [Buffer.alloc(100, 1), Buffer.alloc(100, 2)];
  const paramsHash = sha256(params);
  const escrow = escrowDigest(envelopes);
  const poolRoot = sha256(Buffer.from("pool"));
  const excludedRoot = sha256(Buffer.alloc(0));
  const cS = sha256(Buffer.from("c_s"));
  const digest = commitDigest({ drawId, poolRoot, nElig: 20, excludedRoot, nExcl: 0, paramsHash, cS, r, escrow });
  const data = edit({
    params: paramsHex, params_hash: paramsHash.toString("hex"), pool_root: poolRoot.toString("hex"),
    excluded_root: excludedRoot.toString("hex"), n_elig: 20, n_excl: 0, c_s: cS.toString("hex"), r,
    envelopes: envelopes.map((e) => e.toString("hex")), escrow_digest: escrow.toString("hex"),
    commit_digest: digest.toString("hex"),
  });
  const entry = bytesEdit(canonicalBytes(entryEdit({
    v: 1, log: KEYS.origin, seq: 0, prev: "0".repeat(64), ts, req: "client:t/x#2", kind: "draw.commit",
    subj: `draws/${drawId}`, who: { role: "requester", sub: "client:t", svc: "test-1" }, data,
  })));
  const body = `${KEYS.origin}\n1\n${leafHash(entry).toString("base64")}\n`;
  const signature = cryptoSign(null, Buffer.from(body), SIGNER);
  const note = `${body}\n\u2014 ${KEYS.origin} ${Buffer.concat([LOG_KEY.keyId, signature]).toString("base64")}\n`;
  const draw = { name: `draws/${drawId}`, params, params_hash: paramsHash, commit_digest: digest, round: String(r) };
  return { entryBytes: entry, receiptText: `c2sp.org/tlog-proof@v1\nindex 0\n\n${note}`, draw };
}

const expectedOf = (fields) => ({
  disciplines: fields.disciplines.map((d) => ({ code: d.d, seats: d.k, reserves: d.r, maxReplacements: d.max_repl })),
  beacon: fields.drand_chain_hash !== "",
  drawId: fields.draw_id,
  supersedes: fields.supersedes,
  overrideSeq: fields.override_seq,
});

const failsAt = (check, run, message) =>
  assert.throws(run, (e) => e instanceof CheckError && e.check === check, message ?? check);

test("checkCommit passes a consistent commit without a beacon", () => {
  const c = commit({ paramsHex: PARAMS[1].params_hex });
  const ok = checkCommit({ ...c, logKey: LOG_KEY, expected: expectedOf(PARAMS[1].fields), nowS: 0 });
  assert.deepEqual(ok.passed, ["receipt", "entry", "params", "params_hash", "commit_digest", "request"]);
  assert.equal(ok.secondsLeft, null);
});

test("checkCommit checks R and the time left before time(R) - margin_s", () => {
  const r = 32398978;
  const ts = Number(roundTime(r - 100)) * 1000 + 999; // round_at(ts) + delta = R
  const c = commit({ paramsHex: PARAMS[0].params_hex, r, ts });
  const expected = expectedOf(PARAMS[0].fields);
  const deadline = Number(roundTime(r)) - 30;
  const ok = checkCommit({ ...c, logKey: LOG_KEY, expected, nowS: deadline - 100 });
  assert.equal(ok.passed.at(-1), "beacon");
  assert.equal(ok.secondsLeft, 100);
  failsAt("beacon", () => checkCommit({ ...c, logKey: LOG_KEY, expected, nowS: deadline }), "no time left");
  failsAt("beacon", () => checkCommit({ ...c, logKey: LOG_KEY, expected, nowS: deadline - 100, minSecondsLeft: 100 }));
  failsAt("beacon", () => checkCommit({ ...c, logKey: LOG_KEY, expected, nowS: 0, deltaMin: 101 }), "delta_min");
  const shifted = commit({ paramsHex: PARAMS[0].params_hex, r: r + 1, ts });
  failsAt("beacon", () => checkCommit({ ...shifted, logKey: LOG_KEY, expected, nowS: 0 }), "R off by one");
});

test("checkCommit names the first failed check", () => {
  const fields = PARAMS[1].fields;
  const expected = expectedOf(fields);
  const run = (c, over = {}) => () => checkCommit({ ...c, logKey: LOG_KEY, expected, nowS: 0, ...over });
  const base = { paramsHex: PARAMS[1].params_hex };
  // Another key of the same origin: its lines are unknown, so nothing verifies.
  const other = `${KEYS.origin}+${"0".repeat(8)}+${Buffer.concat([Buffer.from([1]), Buffer.alloc(32, 9)]).toString("base64")}`;
  assert.throws(() => parseVerifierKey(other));
  const c = commit(base);
  failsAt("receipt", run({ ...c, entryBytes: Buffer.concat([c.entryBytes, Buffer.from("\n")]) }), "other bytes");
  failsAt("entry", run(commit({ ...base, bytesEdit: (b) => Buffer.from(b.toString().replace(":1,", ": 1,")) })), "not canonical");
  failsAt("entry", run(commit({ ...base, entryEdit: (e) => ({ ...e, kind: "draw.nonce" }) })), "kind");
  failsAt("entry", run(commit({ ...base, entryEdit: (e) => ({ ...e, log: "other.example/log" }) })), "origin");
  failsAt("entry", run(commit({ ...base, edit: (d) => ({ ...d, extra: 1 }) })), "schema");
  const invalid = load("eds1/params.json").invalid[5].params_hex; // disciplines not ascending
  failsAt("params", run(commit({ ...base, edit: (d) => ({ ...d, params: invalid }) })), "params");
  failsAt("params_hash", run(commit({ ...base, edit: (d) => ({ ...d, params_hash: "00".repeat(32) }) })));
  failsAt("commit_digest", run(commit({ ...base, edit: (d) => ({ ...d, commit_digest: "00".repeat(32) }) })));
  failsAt("commit_digest", run(commit({ ...base, edit: (d) => ({ ...d, n_elig: 21 }) })), "n_elig");
  failsAt("commit_digest", run(commit({ ...base, edit: (d) => ({ ...d, escrow_digest: "00".repeat(32) }) })));
  failsAt("request", run({ ...c, draw: { ...c.draw, params_hash: Buffer.alloc(32) } }), "response");
  const fewer = { ...expected, disciplines: expected.disciplines.map((d) => ({ ...d, seats: d.seats - 1 })) };
  failsAt("request", run(c, { expected: fewer }), "seats");
  failsAt("request", run(c, { expected: { ...expected, beacon: true } }), "beacon asked");
  failsAt("request", run(c, { expected: { ...expected, supersedes: "zb-1" } }), "supersedes");
  failsAt("beacon", run(commit({ ...base, r: 5 })), "r without a beacon");
});
