module sluice.dev/transforms/invoice_by_store_go

go 1.24

require sluice.dev/sdk/go v0.0.0

replace sluice.dev/sdk/go => ../../sdk/go
