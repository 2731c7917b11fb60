//! ABI version 2: each record becomes two messages, the second routed to
//! partition 0 of the topic `audit`; the module logs a line at start-up.
const sluice = @import("sluice");
pub fn init(_: sluice.Config) sluice.Error!void {
    sluice.log(.info, "fan_out ready");
}
pub fn process(record: sluice.Record) sluice.Error!void {
    try sluice.emit(.{ .value = record.compact() });
    try sluice.emit(.{ .value = record.compact(), .topic = "audit", .partition = 0 });
}
comptime {
    _ = sluice.exports;
}
