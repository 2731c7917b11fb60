/*
 * invoice_by_store, in C: the port of transforms/invoice_by_store.
 *
 * Keeps the invoices of the store named by the `store_id` config and keys
 * them by `StoreID`; the value is the record as compact JSON.
 *
 *   sluice run --transform target/transforms/invoice_by_store_c.wasm \
 *              --transform-config store_id=STR7188 ...
 */
#include "sluice.h"

static sluice_bytes store_id;

int sluice_on_init(const sluice_config *config) {
    static const char *const known[] = {"store_id"};
    if (!sluice_config_allow_only(config, known, 1)) return 1;
    if (!sluice_config_require(config, "store_id", &store_id)) return 1;
    if (store_id.len == 0) return sluice_refuse("config `store_id` is empty; give a store such as STR7188");
    return 0;
}

void sluice_on_record(const sluice_record *record) {
    sluice_value store;
    sluice_bytes name;
    if (!sluice_record_field(record, "StoreID", &store)) return;
    if (!sluice_value_str(store, &name) || !sluice_bytes_eq_bytes(name, store_id)) return;
    sluice_message message = {0};
    message.has_key = 1;
    message.key = sluice_value_bytes(store);
    message.has_value = 1;
    message.value = sluice_record_compact(record);
    sluice_emit(&message);
}
