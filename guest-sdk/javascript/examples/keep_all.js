// The smallest JavaScript transform: every record, as compact JSON, unkeyed.
import { Message, exportTransform } from "../sluice.js";

class KeepAll {
  process(record) {
    return new Message({ value: record.compact() });
  }
}

export const { init, process } = exportTransform(KeepAll);
