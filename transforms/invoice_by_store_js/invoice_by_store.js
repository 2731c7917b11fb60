// invoice_by_store, in JavaScript: the port of transforms/invoice_by_store.
//
// Keeps the invoices of the store named by the `store_id` config and keys
// them by `StoreID`; the value is the record as compact JSON.
//
//   sluice run --transform target/transforms/invoice_by_store_js.wasm \
//              --transform-config store_id=STR7188 ...

import { Message, exportTransform } from "../../guest-sdk/javascript/sluice.js";

class InvoiceByStore {
  constructor(config) {
    config.allowOnly("store_id");
    this.storeId = config.require("store_id");
    if (this.storeId === "") throw new Error("config `store_id` is empty; give a store such as STR7188");
  }

  process(record) {
    if (record.json().StoreID !== this.storeId) return null;
    return new Message({ key: this.storeId, value: record.compact() });
  }
}

export const { init, process } = exportTransform(InvoiceByStore);
