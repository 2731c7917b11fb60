//! invoice_by_store, in Zig: the port of transforms/invoice_by_store.
//!
//! Keeps the invoices of the store named by the `store_id` config and keys
//! them by `StoreID`; the value is the record as compact JSON.
//!
//!     sluice run --transform target/transforms/invoice_by_store_zig.wasm \
//!                --transform-config store_id=STR7188 ...

const std = @import("std");
const sluice = @import("sluice");

var store_id: []const u8 = "";

pub fn init(config: sluice.Config) sluice.Error!void {
    try config.allowOnly(&.{"store_id"});
    store_id = try config.require("store_id");
    if (store_id.len == 0) return sluice.refuse("config `store_id` is empty; give a store such as STR7188");
}

pub fn process(record: sluice.Record) sluice.Error!void {
    const store = record.field("StoreID") orelse return;
    const name = store.str() orelse return;
    if (!std.mem.eql(u8, name, store_id)) return;
    try sluice.emit(.{ .key = store.bytes(), .value = record.compact() });
}

comptime {
    _ = sluice.exports;
}
