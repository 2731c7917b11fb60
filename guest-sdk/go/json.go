package sluice

import (
	"strconv"
	"unicode/utf8"
)

// A port of guest-sdk/rust/src/json.rs: one strict pass over a record validates
// it against RFC 8259, indexes its top-level members and notes whether it
// has whitespace outside strings.

const maxDepth = 128

type member struct{ key, value []byte }

type jsonError struct {
	offset int
	reason string
}

func (e *jsonError) Error() string {
	return "malformed JSON at byte " + strconv.Itoa(e.offset) + ": " + e.reason
}

type scanner struct {
	b       []byte
	pos     int
	depth   int
	compact bool
}

func (s *scanner) peek() int {
	if s.pos < len(s.b) {
		return int(s.b[s.pos])
	}
	return -1
}

func (s *scanner) fail(reason string) error { return &jsonError{s.pos, reason} }

func isWS(c int) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c int) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) ws() {
	start := s.pos
	for isWS(s.peek()) {
		s.pos++
	}
	if s.pos != start {
		s.compact = false
	}
}

// indexObject validates b as one JSON object and appends its members.
func indexObject(b []byte, members []member) ([]member, bool, error) {
	s := scanner{b: b, compact: true}
	s.ws()
	if s.peek() != '{' {
		return members, false, s.fail("a record must be a JSON object")
	}
	members, err := s.object(members, true)
	if err != nil {
		return members, false, err
	}
	s.ws()
	if s.pos != len(b) {
		return members, false, s.fail("unexpected text after the object")
	}
	return members, s.compact, nil
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("nested more than 128 levels deep")
	}
	s.pos++
	s.ws()
	return nil
}

func (s *scanner) value() error {
	switch c := s.peek(); {
	case c == '{':
		_, err := s.object(nil, false)
		return err
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.string()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		return s.number()
	case c == -1:
		return s.fail("unexpected end of line, expected a value")
	default:
		return s.fail("expected a value")
	}
}

func (s *scanner) object(members []member, keep bool) ([]member, error) {
	if err := s.enter(); err != nil {
		return members, err
	}
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return members, nil
	}
	for {
		if s.peek() != '"' {
			return members, s.fail("expected a string key")
		}
		key, err := s.string()
		if err != nil {
			return members, err
		}
		s.ws()
		if s.peek() != ':' {
			return members, s.fail("expected ':' after the key")
		}
		s.pos++
		s.ws()
		start := s.pos
		if err := s.value(); err != nil {
			return members, err
		}
		if keep {
			members = append(members, member{key, s.b[start:s.pos]})
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
			continue
		case '}':
		default:
			return members, s.fail("expected ',' or '}' in the object")
		}
		break
	}
	s.pos++
	s.depth--
	return members, nil
}

func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
			continue
		case ']':
		default:
			return s.fail("expected ',' or ']' in the array")
		}
		break
	}
	s.pos++
	s.depth--
	return nil
}

// string scans a string from its opening quote; it returns the inner bytes.
func (s *scanner) string() ([]byte, error) {
	s.pos++
	start := s.pos
	for {
		for s.pos < len(s.b) && s.b[s.pos] >= 0x20 && s.b[s.pos] != '"' && s.b[s.pos] != '\\' {
			s.pos++
		}
		if s.pos >= len(s.b) {
			return nil, s.fail("unterminated string")
		}
		switch s.b[s.pos] {
		case '"':
			s.pos++
			return s.b[start : s.pos-1], nil
		case '\\':
			if err := s.escape(); err != nil {
				return nil, err
			}
		default:
			return nil, s.fail("control character in a string")
		}
	}
}

func (s *scanner) escape() error {
	s.pos++
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
	case 'u':
		if s.pos+5 > len(s.b) {
			return s.fail("\\u must be followed by four hex digits")
		}
		for _, h := range s.b[s.pos+1 : s.pos+5] {
			if !isHex(h) {
				return s.fail("\\u must be followed by four hex digits")
			}
		}
		s.pos += 5
	default:
		return s.fail("invalid escape in a string")
	}
	return nil
}

func (s *scanner) literal(word string) error {
	if len(s.b)-s.pos < len(word) || string(s.b[s.pos:s.pos+len(word)]) != word {
		return s.fail("expected true, false or null")
	}
	s.pos += len(word)
	return nil
}

func (s *scanner) digits() int {
	start := s.pos
	for isDigit(s.peek()) {
		s.pos++
	}
	return s.pos - start
}

func (s *scanner) number() error {
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.fail("expected a digit")
	}
	if s.peek() == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.fail("expected a digit after '.'")
		}
	}
	if s.peek() == 'e' || s.peek() == 'E' {
		s.pos++
		if s.peek() == '+' || s.peek() == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return s.fail("expected a digit in the exponent")
		}
	}
	return nil
}

// appendCompact appends valid JSON text with the whitespace outside strings removed.
func appendCompact(out, text []byte) []byte {
	inString, escaped := false, false
	for _, c := range text {
		if inString {
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		} else if isWS(int(c)) {
			continue
		} else if c == '"' {
			inString = true
		}
		out = append(out, c)
	}
	return out
}

func hex4(b []byte) rune {
	x, _ := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(x)
}

// appendUnescaped appends the content of a validated string body, unescaped.
func appendUnescaped(out, p []byte) []byte {
	for i := 0; i < len(p); {
		if p[i] != '\\' {
			out = append(out, p[i])
			i++
			continue
		}
		e := p[i+1]
		i += 2
		switch e {
		case 'b':
			out = append(out, 8)
		case 'f':
			out = append(out, 12)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			first := hex4(p[i:])
			i += 4
			if first >= 0xD800 && first < 0xDC00 && i+6 <= len(p) && p[i] == '\\' && p[i+1] == 'u' {
				if second := hex4(p[i+2:]); second >= 0xDC00 && second < 0xE000 {
					out = utf8.AppendRune(out, 0x10000+((first-0xD800)<<10)+(second-0xDC00))
					i += 6
					continue
				}
			}
			out = utf8.AppendRune(out, first) // lone surrogates become U+FFFD
		default:
			out = append(out, e)
		}
	}
	return out
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

func keyMatches(key []byte, name string) bool {
	if !hasBackslash(key) {
		return string(key) == name
	}
	return string(appendUnescaped(nil, key)) == name
}

func skipWS(b []byte, pos int) int {
	for pos < len(b) && isWS(int(b[pos])) {
		pos++
	}
	return pos
}

func skipString(b []byte, pos int) int {
	for pos++; pos < len(b); {
		if b[pos] == '"' {
			return pos + 1
		}
		if b[pos] == '\\' {
			pos += 2
		} else {
			pos++
		}
	}
	return len(b)
}

func skipValue(b []byte, pos int) int {
	depth := 0
	for pos < len(b) {
		c := b[pos]
		switch {
		case c == '"':
			pos = skipString(b, pos)
			if depth == 0 {
				return pos
			}
			continue
		case c == '{' || c == '[':
			depth++
		case (c == '}' || c == ']') && depth == 0:
			return pos
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return pos + 1
			}
		case (c == ',' || isWS(int(c))) && depth == 0:
			return pos
		}
		pos++
	}
	return pos
}
