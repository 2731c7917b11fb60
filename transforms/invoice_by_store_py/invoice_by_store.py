"""invoice_by_store, in Python: the port of transforms/invoice_by_store.

Keeps the invoices of the store named by the `store_id` config and keys
them by `StoreID`; the value is the record as compact JSON.

    sluice run --transform target/transforms/invoice_by_store_py.wasm \
               --transform-config store_id=STR7188 ...
"""

import sluice


class InvoiceByStore:
    def __init__(self, config):
        config.allow_only("store_id")
        self.store_id = config.require("store_id")
        if not self.store_id:
            raise sluice.Error("config `store_id` is empty; give a store such as STR7188")

    def process(self, record):
        if record.json().get("StoreID") != self.store_id:
            return None
        return sluice.Message(key=self.store_id, value=record.compact())


WitWorld = sluice.export(InvoiceByStore)
