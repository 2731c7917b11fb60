//! The smallest transform: keeps every record, unkeyed, as compact JSON.
const sluice = @import("sluice");

pub fn init(_: sluice.Config) sluice.Error!void {}

pub fn process(record: sluice.Record) sluice.Error!void {
    try sluice.emit(.{ .value = record.compact() });
}

comptime {
    _ = sluice.exports;
}
