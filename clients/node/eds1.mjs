// The requester's checks of an EDS-1 commit, written from the specifications alone:
// docs/spec/audit-log-v1.md (aud1 canonical JSON §2, entries §3, Merkle tree §4,
// checkpoints, keys and signed notes §5, receipts §6) and docs/spec/draw-v1.md
// (encodings §1, params and commitment §4, beacon time §3/§7, draw.commit §9).
// Only node:crypto is used. Every check throws a CheckError naming itself.

import { createHash, createPublicKey, verify as cryptoVerify } from "node:crypto";

export class CheckError extends Error {
  constructor(check, message) {
    super(message);
    this.check = check;
  }
}

const fail = (check, message) => {
  throw new CheckError(check, message);
};

// -- bytes ------------------------------------------------------------------------------

export const sha256 = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

const ascii = (s) => Buffer.from(s, "ascii");
const utf8 = (s) => Buffer.from(s, "utf8");

export function u32(x) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Number(x));
  return b;
}

export function u64(x) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(x));
  return b;
}

/** enc(f1, ..., fn) = u32(len(f1)) ‖ f1 ‖ ... (draw-v1 §1). */
export function enc(...fields) {
  const parts = [];
  for (const f of fields) parts.push(u32(f.length), f);
  return Buffer.concat(parts);
}

/** The inverse of enc; a length running past the end rejects the input. */
export function dec(data, what) {
  const fields = [];
  let at = 0;
  while (at < data.length) {
    if (at + 4 > data.length) fail("params", `${what}: truncated length prefix`);
    const n = data.readUInt32BE(at);
    at += 4;
    if (at + n > data.length) fail("params", `${what}: a field runs past the end`);
    fields.push(data.subarray(at, at + n));
    at += n;
  }
  return fields;
}

const hex = (b) => Buffer.from(b).toString("hex");

// -- aud1 canonical JSON (audit-log-v1 §2) ----------------------------------------------

const KEY = /^[a-z0-9_]+$/;
const MAX_DEPTH = 32;

function canonical(value, depth) {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error("a number that is not a safe integer");
    return String(value);
  }
  if (typeof value === "string") {
    if (!value.isWellFormed()) throw new Error("a lone surrogate");
    return JSON.stringify(value); // same escapes as aud1: \" \\ \b \t \n \f \r, \u00xx
  }
  if (depth >= MAX_DEPTH) throw new Error("nesting deeper than 32");
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, depth + 1)).join(",")}]`;
  const keys = Object.keys(value).sort();
  for (const k of keys) if (!KEY.test(k)) throw new Error(`key ${JSON.stringify(k)} breaks [a-z0-9_]+`);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k], depth + 1)}`).join(",")}}`;
}

/** The aud1 bytes of a value. */
export const canonicalBytes = (value) => Buffer.from(canonical(value, 0), "utf8");

/** Parse aud1 bytes strictly: valid UTF-8 and JSON whose canonical encoding is the input. */
export function parseCanonical(bytes) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Error("not valid UTF-8");
  }
  const value = JSON.parse(text); // a duplicate key re-encodes shorter, so it fails below
  if (canonical(value, 0) !== text) throw new Error("not in aud1 canonical form");
  return value;
}

// -- keys and signed notes (audit-log-v1 §5) ------------------------------------------

const KEY_NAME = /^[\x21-\x2a\x2c-\x7e]+$/; // printable ASCII without space or '+'

function b64strict(text, what, check) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    fail(check, `${what} is not standard base64`);
  }
  const value = Buffer.from(text, "base64");
  if (value.toString("base64") !== text) fail(check, `${what} is not canonical base64`);
  return value;
}

/** Parse a verifier key `<name>+<key ID hex>+<base64(0x01 ‖ Ed25519 key)>`. */
export function parseVerifierKey(vkey) {
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) fail("log_key", "the pinned log key is not <name>+<id>+<key>");
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  if (!KEY_NAME.test(name)) fail("log_key", "the pinned key name is not printable ASCII without space or '+'");
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail("log_key", "the pinned key ID is not 8 lowercase hex digits");
  const blob = b64strict(vkey.slice(second + 1), "the pinned key", "log_key");
  if (blob.length !== 33 || blob[0] !== 0x01) fail("log_key", "the pinned key is not an Ed25519 key (type 0x01, 32 bytes)");
  const keyId = sha256(ascii(name), Buffer.from([0x0a]), blob).subarray(0, 4);
  if (hex(keyId) !== idHex) fail("log_key", "the pinned key's ID does not match its key");
  const publicKey = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: blob.subarray(1).toString("base64url") },
    format: "jwk",
  });
  return { name, keyId, publicKey, text: vkey };
}

// U+0000-U+0009, U+000B-U+001F, U+007F-U+009F
const FORBIDDEN = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const SIG_LINE = /^\u2014 ([^ ]+) ([^ ]+)$/;

/** Verify a C2SP signed note under the known keys; return its text (§5.3). */
export function openNote(note, keys) {
  if (FORBIDDEN.test(note)) fail("receipt", "the note contains a forbidden control character");
  if (!note.endsWith("\n")) fail("receipt", "the note does not end in a newline");
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) fail("receipt", "the note has no blank line before its signatures");
  const text = note.slice(0, cut + 1);
  const lines = note.slice(cut + 2).split("\n").slice(0, -1);
  if (lines.length < 1 || lines.length > 16) fail("receipt", `the note has ${lines.length} signature lines`);
  if (new Set(lines).size !== lines.length) fail("receipt", "the note repeats a signature line");
  let verified = 0;
  for (const line of lines) {
    const m = SIG_LINE.exec(line);
    if (!m || !KEY_NAME.test(m[1])) fail("receipt", "a malformed signature line");
    const blob = b64strict(m[2], "a signature", "receipt");
    if (blob.length < 5) fail("receipt", "a signature line too short");
    const known = keys.find((k) => k.name === m[1] && k.keyId.equals(blob.subarray(0, 4)));
    if (!known) continue; // lines of other keys are ignored
    if (!cryptoVerify(null, utf8(text), known.publicKey, blob.subarray(4))) {
      fail("receipt", `the signature of the pinned key ${known.name} does not verify`);
    }
    verified += 1;
  }
  if (verified === 0) fail("receipt", "the checkpoint carries no signature of the pinned log key");
  return text;
}

/** Parse a checkpoint body `<origin>\n<size>\n<base64 root>\n` (§5.1). */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") fail("receipt", "the checkpoint is not exactly three lines");
  const [origin, sizeText, rootText] = lines;
  if (!KEY_NAME.test(origin)) fail("receipt", "the checkpoint origin is malformed");
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText) || BigInt(sizeText) >= 2n ** 64n) {
    fail("receipt", "the checkpoint size is not canonical decimal below 2^64");
  }
  const root = b64strict(rootText, "the checkpoint root", "receipt");
  if (root.length !== 32) fail("receipt", "the checkpoint root is not 32 bytes");
  return { origin, size: BigInt(sizeText), root };
}

// -- Merkle tree (audit-log-v1 §4, RFC 9162 §2.1.3.2) ---------------------------------

export const leafHash = (entry) => sha256(Buffer.from([0x00]), entry);
const nodeHash = (l, r) => sha256(Buffer.from([0x01]), l, r);

/** RFC 9162 §2.1.3.2 inclusion verification, with the 32-byte and range rules of §4. */
export function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index >= 0n && index < size)) fail("receipt", `index ${index} is outside a tree of size ${size}`);
  if (leaf.length !== 32 || root.length !== 32) fail("receipt", "a hash is not 32 bytes");
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== 32) fail("receipt", "a proof hash is not 32 bytes");
    if (sn === 0n) fail("receipt", "the inclusion proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail("receipt", "the inclusion proof is too short");
  if (!r.equals(root)) fail("receipt", "the inclusion proof does not lead to the signed root");
}

// -- receipts (audit-log-v1 §6) --------------------------------------------------------

const RECEIPT_HEADER = "c2sp.org/tlog-proof@v1";

/** Verify that `entry` (exact bytes) is in the log of `origin` per the receipt text. */
export function verifyReceipt(receiptText, entry, origin, keys) {
  const cut = receiptText.indexOf("\n\n");
  if (cut < 0) fail("receipt", "the receipt has no blank line before its checkpoint");
  const head = receiptText.slice(0, cut).split("\n");
  const signed = receiptText.slice(cut + 2);
  if (head[0] !== RECEIPT_HEADER) fail("receipt", `the receipt does not start with ${RECEIPT_HEADER}`);
  const m = /^index (0|[1-9][0-9]{0,19})$/.exec(head[1] ?? "");
  if (!m) fail("receipt", "the receipt's second line is not 'index <canonical decimal>'");
  const index = BigInt(m[1]);
  const proof = head.slice(2).map((line) => {
    const h = b64strict(line, "a receipt proof hash", "receipt");
    if (h.length !== 32) fail("receipt", "a receipt proof hash is not 32 bytes");
    return h;
  });
  const checkpoint = parseCheckpoint(openNote(signed, keys));
  if (checkpoint.origin !== origin) fail("receipt", `the checkpoint is of ${checkpoint.origin}, not ${origin}`);
  verifyInclusion(index, checkpoint.size, leafHash(entry), proof, checkpoint.root);
  return { index, size: checkpoint.size, root: checkpoint.root };
}

// -- the draw.commit entry (audit-log-v1 §3, draw-v1 §9) -------------------------------

const HEX = /^(?:[0-9a-f]{2})*$/;
const isInt = (v) => Number.isSafeInteger(v) && v >= 0;
const isHex = (v, n) => typeof v === "string" && HEX.test(v) && (n === undefined || v.length === 2 * n);
const COMMIT_MEMBERS = {
  params: (v) => isHex(v),
  params_hash: (v) => isHex(v, 32),
  pool_root: (v) => isHex(v, 32),
  excluded_root: (v) => isHex(v, 32),
  n_elig: isInt,
  n_excl: isInt,
  c_s: (v) => isHex(v, 32),
  r: isInt,
  envelopes: (v) => Array.isArray(v) && v.every((e) => isHex(e)),
  escrow_digest: (v) => isHex(v, 32),
  commit_digest: (v) => isHex(v, 32),
};
const ENTRY_MEMBERS = ["data", "kind", "log", "prev", "req", "seq", "subj", "ts", "v", "who"];

/** Parse the draw.commit entry: canonical aud1, the envelope and the data schema. */
export function parseCommitEntry(bytes, origin) {
  let entry;
  try {
    entry = parseCanonical(bytes);
  } catch (exc) {
    fail("entry", `the commit entry is not aud1 canonical JSON: ${exc.message}`);
  }
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) fail("entry", "the entry is not an object");
  if (Object.keys(entry).sort().join() !== ENTRY_MEMBERS.join()) fail("entry", "the entry does not have the ten aud1 members");
  if (entry.v !== 1) fail("entry", "the entry's format version is not 1");
  if (entry.log !== origin) fail("entry", `the entry is of log ${entry.log}, not ${origin}`);
  if (entry.kind !== "draw.commit") fail("entry", `the entry is a ${entry.kind}, not a draw.commit`);
  if (!isInt(entry.seq) || !isInt(entry.ts)) fail("entry", "the entry's seq or ts is not an integer");
  const m = /^draws\/([a-z0-9-]{1,56})$/.exec(entry.subj);
  if (!m) fail("entry", "the entry's subject is not draws/<draw_id>");
  const data = entry.data;
  if (data === null || typeof data !== "object" || Array.isArray(data)) fail("entry", "the entry's data is not an object");
  const names = Object.keys(data).sort();
  if (names.join() !== Object.keys(COMMIT_MEMBERS).sort().join()) {
    fail("entry", `draw.commit data members are ${names.join(",")}`);
  }
  for (const [name, ok] of Object.entries(COMMIT_MEMBERS)) {
    if (!ok(data[name])) fail("entry", `draw.commit data.${name} has the wrong type`);
  }
  return { entry, drawId: m[1], data };
}

// -- params (draw-v1 §4) ---------------------------------------------------------------

const DRAW_ID = /^[a-z0-9-]{1,56}$/;
const CODE = /^[A-Z0-9]{1,16}$/;

function readU32(field, what) {
  if (field.length !== 4) fail("params", `params: ${what} is not a u32`);
  return field.readUInt32BE(0);
}

/** Parse params strictly (§4): 18 fields, the table's rules, bytes that re-encode equal. */
export function parseParams(data) {
  const f = dec(data, "params");
  if (f.length !== 18) fail("params", `params have ${f.length} fields, not 18`);
  if (!f[0].equals(ascii("EDS1/params"))) fail("params", "params label is not EDS1/params");
  if (!f[1].equals(ascii("EDS-1"))) fail("params", "params version is not EDS-1");
  const text = (b) => b.toString("latin1");
  const drawId = text(f[2]);
  if (!DRAW_ID.test(drawId)) fail("params", "draw_id breaks [a-z0-9-]{1,56}");
  for (const [i, name] of [[3, "tender_ref"], [6, "edition_digest"], [16, "rules_digest"], [17, "code_digest"]]) {
    if (f[i].length !== 32) fail("params", `${name} is not 32 bytes`);
  }
  const supersedes = text(f[4]);
  if (supersedes !== "" && !DRAW_ID.test(supersedes)) fail("params", "supersedes is neither empty nor a draw_id");
  let edition;
  try {
    edition = new TextDecoder("utf-8", { fatal: true }).decode(f[5]);
  } catch {
    fail("params", "edition is not UTF-8");
  }
  if (edition === "") fail("params", "edition is empty");
  const matchMode = text(f[7]);
  if (matchMode !== "prefix" && matchMode !== "exact") fail("params", "match_mode is not prefix or exact");
  const disciplines = dec(f[8], "disciplines").map((item) => {
    const parts = dec(item, "a discipline");
    if (parts.length !== 4) fail("params", "a discipline is not enc(code, u32 k, u32 r, u32 max_repl)");
    const code = text(parts[0]);
    if (!CODE.test(code)) fail("params", `discipline code ${JSON.stringify(code)} breaks [A-Z0-9]{1,16}`);
    const [k, r, maxRepl] = parts.slice(1).map((p, i) => readU32(p, ["k", "r", "max_repl"][i]));
    if (k < 1) fail("params", `discipline ${code} has k = 0`);
    return { code, k, r, maxRepl };
  });
  if (disciplines.length === 0) fail("params", "no discipline");
  for (let i = 1; i < disciplines.length; i += 1) {
    if (Buffer.compare(ascii(disciplines[i - 1].code), ascii(disciplines[i].code)) >= 0) {
      fail("params", "disciplines are not strictly ascending");
    }
  }
  for (const a of disciplines) {
    for (const b of disciplines) {
      if (a !== b && b.code.startsWith(a.code)) fail("params", `discipline ${a.code} is a prefix of ${b.code}`);
    }
  }
  const replMode = text(f[9]);
  if (replMode !== "A" && replMode !== "B") fail("params", "repl_mode is not A or B");
  const delta = readU32(f[10], "delta");
  const marginS = readU32(f[11], "margin_s");
  const deltaB = readU32(f[12], "delta_b");
  const minPoolFactor = readU32(f[13], "min_pool_factor");
  if (f[14].length !== 8) fail("params", "override_seq is not a u64");
  const overrideSeq = f[14].readBigUInt64BE(0);
  const chainHash = Buffer.from(f[15]);
  if (replMode === "A" && deltaB !== 0) fail("params", "delta_b is not 0 under repl_mode A");
  if (minPoolFactor < 1) fail("params", "min_pool_factor is 0");
  if (chainHash.length !== 0 && chainHash.length !== 32) fail("params", "drand_chain_hash is neither empty nor 32 bytes");
  const beacon = chainHash.length === 32;
  if (!beacon && (delta !== 0 || marginS !== 0 || deltaB !== 0 || replMode !== "A")) {
    fail("params", "without a beacon delta, margin_s and delta_b must be 0 and repl_mode A");
  }
  const params = {
    drawId, tenderRef: Buffer.from(f[3]), supersedes, edition, editionDigest: Buffer.from(f[6]),
    matchMode, disciplines, replMode, delta, marginS, deltaB, minPoolFactor, overrideSeq,
    chainHash, rulesDigest: Buffer.from(f[16]), codeDigest: Buffer.from(f[17]), beacon,
  };
  if (!encodeParams(params).equals(data)) fail("params", "params do not re-encode byte for byte");
  return params;
}

export function encodeParams(p) {
  return enc(
    ascii("EDS1/params"), ascii("EDS-1"), ascii(p.drawId), p.tenderRef, ascii(p.supersedes),
    utf8(p.edition), p.editionDigest, ascii(p.matchMode),
    enc(...p.disciplines.map((d) => enc(ascii(d.code), u32(d.k), u32(d.r), u32(d.maxRepl)))),
    ascii(p.replMode), u32(p.delta), u32(p.marginS), u32(p.deltaB), u32(p.minPoolFactor),
    u64(p.overrideSeq), p.chainHash, p.rulesDigest, p.codeDigest,
  );
}

// -- commitment (draw-v1 §4) -----------------------------------------------------------

export const escrowDigest = (envelopes) => sha256(enc(ascii("EDS1/escrow"), ...envelopes));

export function commitDigest({ drawId, poolRoot, nElig, excludedRoot, nExcl, paramsHash, cS, r, escrow }) {
  return sha256(enc(
    ascii("EDS1/commitment"), ascii(drawId), poolRoot, u32(nElig), excludedRoot, u32(nExcl),
    paramsHash, cS, u64(r), escrow,
  ));
}

// -- drand quicknet time (draw-v1 §3 Time, §7) ------------------------------------------

export const QUICKNET_CHAIN_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971";
const GENESIS = 1692803367n;
export const roundAt = (t) => (BigInt(t) - GENESIS) / 3n + 1n;
export const roundTime = (r) => GENESIS + 3n * (BigInt(r) - 1n);

// -- the whole check -------------------------------------------------------------------

/**
 * The requester's checks on CreateDraw's response, before any nonce exists. `expected`
 * holds what the requester asked for: {disciplines: [{code, seats, reserves,
 * maxReplacements (null: the policy's)}], beacon, drawId, supersedes, overrideSeq}.
 * Appends each passed check's name to `passed` (so a caller sees how far it got) and
 * returns {passed, drawId, params, round, secondsLeft}; throws CheckError at the first failure.
 */
export function checkCommit({ entryBytes, receiptText, draw, logKey, expected, nowS, deltaMin = 100, minSecondsLeft = 0, passed = [] }) {
  const origin = logKey.name; // the origin is the name of the log key (audit-log-v1 §10)

  verifyReceipt(receiptText, entryBytes, origin, [logKey]);
  passed.push("receipt");

  const { entry, drawId, data } = parseCommitEntry(entryBytes, origin);
  if (draw.name !== `draws/${drawId}`) fail("entry", `the entry is for draws/${drawId}, the response for ${draw.name}`);
  passed.push("entry");

  const paramsBytes = Buffer.from(data.params, "hex");
  const params = parseParams(paramsBytes);
  if (params.drawId !== drawId) fail("params", `the params are for draw ${params.drawId}, the entry for ${drawId}`);
  passed.push("params");

  const paramsHash = sha256(paramsBytes);
  if (hex(paramsHash) !== data.params_hash) fail("params_hash", "params_hash does not recompute from the params");
  passed.push("params_hash");

  const envelopes = data.envelopes.map((e) => Buffer.from(e, "hex"));
  const escrow = escrowDigest(envelopes);
  if (hex(escrow) !== data.escrow_digest) fail("commit_digest", "escrow_digest does not recompute from the envelopes");
  const digest = commitDigest({
    drawId, poolRoot: Buffer.from(data.pool_root, "hex"), nElig: data.n_elig,
    excludedRoot: Buffer.from(data.excluded_root, "hex"), nExcl: data.n_excl, paramsHash,
    cS: Buffer.from(data.c_s, "hex"), r: data.r, escrow,
  });
  if (hex(digest) !== data.commit_digest) fail("commit_digest", "commit_digest does not recompute from the entry");
  passed.push("commit_digest");

  // The response must describe the committed draw, and the committed params the request.
  const same = (a, b) => Buffer.from(a ?? []).equals(b);
  if (!same(draw.params, paramsBytes) || !same(draw.params_hash, paramsHash) || !same(draw.commit_digest, digest)) {
    fail("request", "the response's params, params_hash or commit_digest differ from the logged entry");
  }
  if (BigInt(draw.round ?? 0) !== BigInt(data.r)) fail("request", "the response's round differs from the entry's r");
  const asked = [...expected.disciplines].sort((a, b) => Buffer.compare(ascii(a.code), ascii(b.code)));
  const got = params.disciplines;
  const want = asked.map((d) => `${d.code}:${d.seats}:${d.reserves}`).join(",");
  const have = got.map((d) => `${d.code}:${d.k}:${d.r}`).join(",");
  if (want !== have) fail("request", `the committed disciplines ${have} are not the requested ${want}`);
  asked.forEach((d, i) => {
    if (d.maxReplacements != null && d.maxReplacements !== got[i].maxRepl) {
      fail("request", `${d.code}: max_repl ${got[i].maxRepl} is not the requested ${d.maxReplacements}`);
    }
  });
  if (params.beacon !== Boolean(expected.beacon)) {
    fail("request", `the params ${params.beacon ? "use" : "do not use"} a beacon, the request asked otherwise`);
  }
  if (expected.drawId && expected.drawId !== params.drawId) {
    fail("request", `the params are for draw ${params.drawId}, the request named ${expected.drawId}`);
  }
  if ((expected.supersedes ?? "") !== params.supersedes) {
    fail("request", `the params supersede "${params.supersedes}", the request "${expected.supersedes ?? ""}"`);
  }
  if (BigInt(expected.overrideSeq ?? 0) !== params.overrideSeq) {
    fail("request", `the params' override_seq ${params.overrideSeq} is not the requested ${expected.overrideSeq ?? 0}`);
  }
  passed.push("request");

  let secondsLeft = null;
  if (params.beacon) {
    if (hex(params.chainHash) !== QUICKNET_CHAIN_HASH) fail("beacon", "drand_chain_hash is not the pinned quicknet chain");
    if (params.delta < deltaMin) fail("beacon", `delta ${params.delta} is below delta_min ${deltaMin}`);
    const r = BigInt(data.r);
    if (r !== roundAt(Math.floor(entry.ts / 1000)) + BigInt(params.delta)) {
      fail("beacon", "R is not round_at(t_commit) + delta");
    }
    secondsLeft = Number(roundTime(r) - BigInt(params.marginS) - BigInt(nowS));
    if (secondsLeft <= minSecondsLeft) {
      fail("beacon", `too late: ${secondsLeft} s left before time(R) - margin_s (need more than ${minSecondsLeft})`);
    }
    passed.push("beacon");
  } else if (data.r !== 0) {
    fail("beacon", "a draw without a beacon has r != 0");
  }
  return { passed, drawId, params, round: data.r, secondsLeft };
}
