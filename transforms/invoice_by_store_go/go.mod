module sluice.dev/transforms/invoice_by_store_go

go 1.24

require sluice.dev/guest-sdk/go v0.0.0

replace sluice.dev/guest-sdk/go => ../../guest-sdk/go
