// The smallest transform: keeps every record, unkeyed, as compact JSON.
package main

import "sluice.dev/guest-sdk/go"

type keepAll struct{}

func (keepAll) Process(record *sluice.Record, out *sluice.Output) error {
	return out.Emit(sluice.Message{Value: record.Compact()})
}

func init() {
	sluice.Register(func(sluice.Config) (sluice.Transform, error) { return keepAll{}, nil })
}

func main() {}
