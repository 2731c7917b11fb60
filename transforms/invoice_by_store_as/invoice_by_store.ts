// invoice_by_store, in AssemblyScript: the port of transforms/invoice_by_store.
//
// Keeps the invoices of the store named by the `store_id` config and keys
// them by `StoreID`; the value is the record as compact JSON.
//
//   sluice run --transform target/transforms/invoice_by_store_as.wasm \
//              --transform-config store_id=STR7188 ...
import * as sluice from "../../guest-sdk/assemblyscript/sluice";

const STORE_ID = [sluice.name("StoreID")];
let storeId: sluice.Slice = sluice.NONE;

function init(config: sluice.Config): string | null {
  const unknown = config.allowOnly(["store_id"]);
  if (unknown != null) return unknown;
  const value = config.get("store_id");
  if (value == null) return sluice.Config.missing("store_id");
  if (value.length == 0) return "config `store_id` is empty; give a store such as STR7188";
  storeId = sluice.name(value);
  return null;
}

function process(): void {
  const store = sluice.field(STORE_ID);
  const name = sluice.str(store);
  if (name == sluice.NONE || !sluice.equals(name, storeId)) return;
  sluice.emit(sluice.bytes(store), sluice.compact());
}

sluice.register(init, process);

export { sluice_abi_version, sluice_buffer, sluice_init, sluice_process, sluice_panic_message } from "../../guest-sdk/assemblyscript/sluice";
