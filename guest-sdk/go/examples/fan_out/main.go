// ABI version 2: each record becomes two messages, the second routed to
// partition 0 of the topic `audit`; the module logs a line at start-up.
package main

import "sluice.dev/guest-sdk/go"

type fanOut struct{}

func (fanOut) Process(record *sluice.Record, out *sluice.Output) error {
	value := record.Compact()
	if err := out.Emit(sluice.Message{Value: value}); err != nil {
		return err
	}
	partition := int32(0)
	return out.Emit(sluice.Message{Value: value, Topic: "audit", Partition: &partition})
}

func init() {
	sluice.Register(func(sluice.Config) (sluice.Transform, error) {
		sluice.Log(sluice.LevelInfo, "fan_out ready")
		return fanOut{}, nil
	})
}

func main() {}
