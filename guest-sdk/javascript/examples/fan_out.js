// Two messages per record: one to `--topic`, one to partition 0 of `audit`.
import { Message, exportTransform, log } from "../sluice.js";

class FanOut {
  constructor() {
    log("info", "fan_out ready");
  }

  process(record) {
    const value = record.compact();
    return [new Message({ value }), new Message({ value, topic: "audit", partition: 0 })];
  }
}

export const { init, process } = exportTransform(FanOut);
