// invoice_by_store, in Go: the port of transforms/invoice_by_store.
//
// Keeps the invoices of the store named by the `store_id` config and keys
// them by `StoreID`; the value is the record as compact JSON.
//
//	sluice run --transform target/transforms/invoice_by_store_go.wasm \
//	           --transform-config store_id=STR7188 ...
package main

import (
	"errors"

	"sluice.dev/guest-sdk/go"
)

type invoiceByStore struct{ storeID string }

func newInvoiceByStore(config sluice.Config) (sluice.Transform, error) {
	if err := config.AllowOnly("store_id"); err != nil {
		return nil, err
	}
	storeID, err := config.Require("store_id")
	if err != nil {
		return nil, err
	}
	if storeID == "" {
		return nil, errors.New("config `store_id` is empty; give a store such as STR7188")
	}
	return &invoiceByStore{storeID}, nil
}

func (t *invoiceByStore) Process(record *sluice.Record, out *sluice.Output) error {
	store, ok := record.Field("StoreID")
	if !ok {
		return nil
	}
	if name, ok := store.Str(); !ok || name != t.storeID {
		return nil
	}
	return out.Emit(sluice.Message{Key: store.Bytes(), Value: record.Compact()})
}

func init() { sluice.Register(newInvoiceByStore) }

func main() {}
