package sluice

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unsafe"
)

// The module side of the ABI: the exports Go's //go:wasmexport makes, and
// the buffers behind them, which live as long as the instance and only grow.

const abiVersion = 2

var (
	newTransform func(Config) (Transform, error)
	transform    Transform
	input        []byte
	output       []byte
	members      []member
	out          Output
)

// Register sets the constructor the host's sluice_init calls. Call it from
// the main package's init function.
func Register(constructor func(Config) (Transform, error)) { newTransform = constructor }

// Output collects what one record becomes.
type Output struct {
	mark    int
	emitted int
}

// Emit adds message m to what the record becomes; call it again for more
// (ABI version 2's emit-many). m.Topic and m.Partition route it. A negative
// partition is an error.
func (o *Output) Emit(m Message) error {
	if m.Partition != nil && *m.Partition < 0 {
		return errors.New("partition " + strconv.Itoa(int(*m.Partition)) + " is negative")
	}
	if o.emitted == 0 {
		// The tag and a message count, fixed when the record is done.
		output = append(output[:o.mark], 3, 0, 0, 0, 0)
	}
	o.emitted++
	var flags byte
	if m.Key != nil {
		flags |= 1
	}
	if m.Value != nil {
		flags |= 2
	}
	if m.TimestampMs != nil {
		flags |= 4
	}
	if m.Topic != "" {
		flags |= 8
	}
	if m.Partition != nil {
		flags |= 16
	}
	output = append(output, flags)
	if m.Key != nil {
		output = putBytes(output, m.Key)
	}
	if m.Value != nil {
		output = putBytes(output, m.Value)
	}
	output = binary.LittleEndian.AppendUint32(output, uint32(len(m.Headers)))
	for _, h := range m.Headers {
		output = putBytes(output, []byte(h.Name))
		if h.Value == nil {
			output = binary.LittleEndian.AppendUint32(output, 0xFFFFFFFF)
		} else {
			output = putBytes(output, h.Value)
		}
	}
	if m.TimestampMs != nil {
		output = binary.LittleEndian.AppendUint64(output, uint64(*m.TimestampMs))
	}
	if m.Topic != "" {
		output = putBytes(output, []byte(m.Topic))
	}
	if m.Partition != nil {
		output = binary.LittleEndian.AppendUint32(output, uint32(*m.Partition))
	}
	return nil
}

// finish writes the record's outcome tag: an emit for one message (the
// count taken out), an emit-many with its count for several.
func (o *Output) finish() {
	if o.emitted == 1 {
		output[o.mark] = 1
		output = append(output[:o.mark+1], output[o.mark+5:]...)
		return
	}
	binary.LittleEndian.PutUint32(output[o.mark+1:], uint32(o.emitted))
}

func putBytes(b, p []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(b, uint32(len(p))), p...)
}

func putError(b []byte, message string) []byte {
	return putBytes(append(b, 2), []byte(message))
}

func region(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	return int64(uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b)))
}

//go:wasmexport sluice_abi_version
func sluiceAbiVersion() int32 { return abiVersion }

//go:wasmexport sluice_buffer
func sluiceBuffer(capacity int32) int32 {
	if int(capacity) > len(input) || input == nil {
		input = make([]byte, max(int(capacity), 1))
	}
	return int32(uintptr(unsafe.Pointer(&input[0])))
}

//go:wasmexport sluice_init
func sluiceInit(length int32) int64 {
	output = output[:0]
	config, ok := decodeConfig(input[:max(length, 0)])
	var err error
	switch {
	case !ok:
		err = errors.New("malformed config from the host")
	case newTransform == nil:
		err = errors.New("no transform registered: call sluice.Register from the main package's init")
	default:
		transform, err = newTransform(config)
	}
	if err != nil {
		transform = nil
		output = putBytes(append(output, 1), []byte(err.Error()))
	} else {
		output = append(output, 0)
	}
	return region(output)
}

func decodeConfig(b []byte) (Config, bool) {
	if len(b) < 4 {
		return Config{}, false
	}
	count, pos := int(binary.LittleEndian.Uint32(b)), 4
	pairs := make([][2]string, count)
	for i := 0; i < 2*count; i++ {
		if len(b)-pos < 4 || uint32(len(b)-pos-4) < binary.LittleEndian.Uint32(b[pos:]) {
			return Config{}, false
		}
		n := int(binary.LittleEndian.Uint32(b[pos:]))
		pairs[i/2][i%2] = string(b[pos+4 : pos+4+n])
		pos += 4 + n
	}
	return Config{pairs}, true
}

//go:wasmexport sluice_process
func sluiceProcess(count, length int32) int64 {
	batch := input[:max(length, 0)]
	output = output[:0]
	pos := 0
	for i := int32(0); i < count; i++ {
		if transform == nil {
			output = putError(output, "sluice_init was not called")
			continue
		}
		if len(batch)-pos < 4 || uint32(len(batch)-pos-4) < binary.LittleEndian.Uint32(batch[pos:]) {
			panic("batch shorter than its records")
		}
		n := int(binary.LittleEndian.Uint32(batch[pos:]))
		processRecord(batch[pos+4 : pos+4+n])
		pos += 4 + n
	}
	return region(output)
}

func processRecord(raw []byte) {
	out = Output{mark: len(output)}
	var compact bool
	var err error
	members, compact, err = indexObject(raw, members[:0])
	if err == nil {
		record := Record{raw: raw, compact: compact, members: members}
		err = transform.Process(&record, &out)
	}
	switch {
	case err != nil:
		output = putError(output[:out.mark], err.Error())
	case out.emitted == 0:
		output = append(output[:out.mark], 0)
	default:
		out.finish()
	}
}
