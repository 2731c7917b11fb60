// Sluice transforms in JavaScript, built into a WebAssembly component with
// componentize-js against guest-sdk/wit/sluice.wit (see README.md here).
//
// A transform is a class: its constructor reads the config (throw to refuse
// it) and `process(record)` returns what becomes of one record: null or
// undefined (dropped), a Message, or an array of them (none, one or several
// messages); throwing fails the record, which goes to the dead letters with
// the error's message. The module ends with
// `export const { init, process } = exportTransform(MyTransform);`.

import { log as hostLog } from "sluice:transform/host@1.0.0";
import { JsonError, compact, parseObject } from "./json.js";

export { JsonError };

// The operator's `--transform-config KEY=VALUE` pairs, in order.
export class Config {
  constructor(pairs) {
    this.pairs = pairs;
  }
  // The value of `key` (the last one when given more than once), or undefined.
  get(key) {
    for (let i = this.pairs.length - 1; i >= 0; i--) {
      if (this.pairs[i][0] === key) return this.pairs[i][1];
    }
    return undefined;
  }
  // The value of `key`, or an Error that names it.
  require(key) {
    const value = this.get(key);
    if (value === undefined) throw new Error(`missing required config \`${key}\``);
    return value;
  }
  // Refuses any key not in `known`, so a typo fails at start-up.
  allowOnly(...known) {
    for (const [key] of this.pairs) {
      if (!known.includes(key)) {
        throw new Error(`unknown config \`${key}\`; this transform accepts: ${known.join(", ")}`);
      }
    }
  }
}

// One JSON-lines record: its text, parsed on arrival (a record that is not
// a strict RFC 8259 JSON object fails before `process` sees it).
export class Record {
  constructor(text) {
    this.text = text;
    this.value = parseObject(text);
  }
  // The record as an object.
  json() {
    return this.value;
  }
  // The value at a dot-separated `path` (`DeliveryAddress.City`), or undefined.
  field(path) {
    let value = this.value;
    for (const step of path.split(".")) {
      if (typeof value !== "object" || value === null || !Object.hasOwn(value, step)) return undefined;
      value = value[step];
    }
    return value;
  }
  // The record as compact JSON: whitespace outside strings removed, members
  // in their order, numbers exactly as written.
  compact() {
    return compact(this.text);
  }
}

const utf8 = new TextEncoder();
const bytes = (v) => (v === null || v === undefined ? undefined : typeof v === "string" ? utf8.encode(v) : v);

// One Kafka message. `key`, `value` and header values are strings (sent as
// UTF-8) or Uint8Arrays; null or undefined is a null key or value.
// `timestampMs` unset lets the producer stamp it, `topic` unset is
// `--topic`, `partition` unset lets the partitioner choose.
export class Message {
  constructor({ key, value, headers = [], timestampMs, topic, partition } = {}) {
    Object.assign(this, { key, value, headers, timestampMs, topic, partition });
  }
  wit() {
    return {
      key: bytes(this.key),
      value: bytes(this.value),
      headers: this.headers.map(([name, value]) => [name, bytes(value)]),
      timestampMs: this.timestampMs === undefined || this.timestampMs === null ? undefined : BigInt(this.timestampMs),
      topic: this.topic ?? undefined,
      partition: this.partition ?? undefined,
    };
  }
}

// Writes `message` to the host's log at `level` ("error", "warn", "info",
// "debug" or "trace"), tagged with the module's name.
export function log(level, message) {
  hostLog(level, String(message));
}

// console.* becomes log lines (the component has no WASI stdio).
const logAt = (level) => (...args) => hostLog(level, args.map(String).join(" "));
globalThis.console = {
  log: logAt("info"),
  info: logAt("info"),
  warn: logAt("warn"),
  error: logAt("error"),
  debug: logAt("debug"),
  trace: logAt("trace"),
};

const describe = (error) => (error instanceof Error ? error.message : String(error));
const DROP = { tag: "drop" };

function outcome(transform, text) {
  let result;
  try {
    result = transform.process(new Record(text));
  } catch (error) {
    return { tag: "error", val: describe(error) };
  }
  if (result === null || result === undefined) return DROP;
  const messages = result instanceof Message ? [result] : result;
  return { tag: "emit", val: messages.map((m) => m.wit()) };
}

// The `init` and `process` exports of the world, running `TransformClass`.
export function exportTransform(TransformClass) {
  let transform;
  return {
    init(config) {
      try {
        transform = new TransformClass(new Config(config));
      } catch (error) {
        throw describe(error);
      }
    },
    process(records) {
      if (transform === undefined) return records.map(() => ({ tag: "error", val: "init was not called" }));
      return records.map((text) => outcome(transform, text));
    },
  };
}
