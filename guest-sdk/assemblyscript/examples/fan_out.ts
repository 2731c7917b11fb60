// ABI version 2: each record becomes two messages, the second routed to
// partition 0 of the topic `audit`; the module logs a line at start-up.
import * as sluice from "../sluice";

const AUDIT = sluice.name("audit");

function init(config: sluice.Config): string | null {
  sluice.log(sluice.Level.Info, "fan_out ready");
  return null;
}

function process(): void {
  const value = sluice.compact();
  sluice.emit(sluice.NONE, value);
  sluice.emit(sluice.NONE, value, null, 0, false, AUDIT, 0);
}

sluice.register(init, process);

export { sluice_abi_version, sluice_buffer, sluice_init, sluice_process, sluice_panic_message } from "../sluice";
