// Package sluice writes Sluice transforms in Go.
//
// It implements the ABI of guest-sdk/ABI.md (the exports, the buffers, the
// config and batch encodings) and a strict JSON scanner that validates each
// record (RFC 8259) and indexes its top-level members, exactly as the Rust
// SDK does. An author registers a constructor from the main package's
// init:
//
//	func init() { sluice.Register(newMyTransform) }
//	func main() {}
//
// The constructor gets the operator's config; an error stops the host with
// its message. Process is called once per valid JSON-object record: it
// calls out.Emit for each message the record becomes (none: the record is
// dropped; several: ABI version 2's emit-many) or returns an error, which
// sends the record to the dead letters with the error's text. Log writes a
// line to the host's log. A record that is not a JSON object fails
// with "malformed JSON at byte N: <reason>" before Process sees it.
//
// Build a reactor module (Go 1.24 or newer):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my.wasm .
//
// Go's runtime imports a few WASI preview 1 functions; the host answers
// them with a sandboxed stub set (see guest-sdk/ABI.md, "Imports").
package sluice

import "errors"

// Transform is what a plugin author writes.
type Transform interface {
	// Process handles one record.
	Process(record *Record, out *Output) error
}

// Header is one Kafka message header; a nil Value is a null value.
type Header struct {
	Name  string
	Value []byte
}

// Message is one message a record becomes. A nil Key means no key, a nil
// Value a null value (a tombstone), a nil TimestampMs the producer's clock.
// An empty Topic sends it to the operator's --topic, a nil Partition lets
// the producer's partitioner choose by key; a topic that does not exist, or
// a partition it does not have, sends the record to the dead letters.
type Message struct {
	Key         []byte
	Value       []byte
	Headers     []Header
	TimestampMs *int64
	Topic       string
	Partition   *int32
}

// Config holds the operator's --transform-config KEY=VALUE pairs, in order.
type Config struct {
	pairs [][2]string
}

// NewConfig makes a Config, for tests.
func NewConfig(pairs ...[2]string) Config { return Config{pairs} }

// Get returns the value of key; when it is given more than once, the last wins.
func (c Config) Get(key string) (string, bool) {
	for i := len(c.pairs) - 1; i >= 0; i-- {
		if c.pairs[i][0] == key {
			return c.pairs[i][1], true
		}
	}
	return "", false
}

// Require returns the value of key, or an error that names it.
func (c Config) Require(key string) (string, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	return "", errors.New("missing required config `" + key + "`")
}

// AllowOnly refuses any key not in known, so a typo fails at start-up.
func (c Config) AllowOnly(known ...string) error {
next:
	for _, p := range c.pairs {
		for _, k := range known {
			if p[0] == k {
				continue next
			}
		}
		list := ""
		for i, k := range known {
			if i > 0 {
				list += ", "
			}
			list += k
		}
		return errors.New("unknown config `" + p[0] + "`; this transform accepts: " + list)
	}
	return nil
}

// Pairs returns every pair in the order given.
func (c Config) Pairs() [][2]string { return c.pairs }

// Kind is the JSON type of a Value.
type Kind int

// The JSON types.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// Value is the raw JSON text of one value inside a record.
type Value []byte

// Kind returns the value's JSON type.
func (v Value) Kind() Kind {
	if len(v) == 0 {
		return Null
	}
	switch v[0] {
	case '"':
		return String
	case '{':
		return Object
	case '[':
		return Array
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	}
	return Number
}

// Member returns member name of an object value; the last duplicate wins.
func (v Value) Member(name string) (Value, bool) {
	b := []byte(v)
	var found Value
	ok := false
	pos := skipWS(b, 0)
	if pos >= len(b) || b[pos] != '{' {
		return nil, false
	}
	pos = skipWS(b, pos+1)
	for pos < len(b) && b[pos] == '"' {
		keyEnd := skipString(b, pos)
		valueStart := skipWS(b, skipWS(b, keyEnd)+1)
		valueEnd := skipValue(b, valueStart)
		if keyMatches(b[pos+1:keyEnd-1], name) {
			found, ok = b[valueStart:valueEnd], true
		}
		pos = skipWS(b, valueEnd)
		if pos >= len(b) || b[pos] != ',' {
			break
		}
		pos = skipWS(b, pos+1)
	}
	return found, ok
}

// Str returns a string value's content, unescaped.
func (v Value) Str() (string, bool) {
	if v.Kind() != String {
		return "", false
	}
	body := []byte(v[1 : len(v)-1])
	if !hasBackslash(body) {
		return string(body), true
	}
	return string(appendUnescaped(nil, body)), true
}

// Bytes returns the value as Kafka key or header bytes: a string's
// unescaped content, any other value's compact JSON text.
func (v Value) Bytes() []byte {
	if v.Kind() == String {
		return appendUnescaped(make([]byte, 0, len(v)), v[1:len(v)-1])
	}
	return appendCompact(make([]byte, 0, len(v)), v)
}

// Record is one input line, already validated as a JSON object.
type Record struct {
	raw     []byte
	compact bool
	members []member
}

// Raw returns the line exactly as read, without its terminator. It is only
// valid during Process.
func (r *Record) Raw() []byte { return r.raw }

// Member returns the top-level member called exactly name; the last
// duplicate wins.
func (r *Record) Member(name string) (Value, bool) {
	for i := len(r.members) - 1; i >= 0; i-- {
		if keyMatches(r.members[i].key, name) {
			return r.members[i].value, true
		}
	}
	return nil, false
}

// Field returns the field at a dot-separated path (DeliveryAddress.City).
func (r *Record) Field(path string) (Value, bool) {
	start := 0
	var v Value
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		var ok bool
		if start == 0 {
			v, ok = r.Member(path[:i])
		} else {
			v, ok = v.Member(path[start:i])
		}
		if !ok {
			return nil, false
		}
		start = i + 1
	}
	return v, true
}

// Compact returns the record as compact JSON: no whitespace outside
// strings, members in their original order, numbers exactly as written.
// It is only valid during Process.
func (r *Record) Compact() []byte {
	if r.compact {
		return r.raw
	}
	return appendCompact(make([]byte, 0, len(r.raw)), r.raw)
}
