module sluice.dev/guest-sdk/go

go 1.24
