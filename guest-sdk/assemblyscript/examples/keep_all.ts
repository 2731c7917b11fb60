// The smallest transform: keeps every record, unkeyed, as compact JSON.
import * as sluice from "../sluice";

function init(config: sluice.Config): string | null {
  return null; // or a refusal message
}

function process(): void {
  sluice.emit(sluice.NONE, sluice.compact()); // no key; no emit: dropped
}

sluice.register(init, process);

export { sluice_abi_version, sluice_buffer, sluice_init, sluice_process, sluice_panic_message } from "../sluice";
