package sluice

import "unsafe"

// Level is a log line's level.
type Level int32

// The levels of Log.
const (
	LevelError Level = iota
	LevelWarn
	LevelInfo
	LevelDebug
	LevelTrace
)

//go:wasmimport sluice log
func hostLog(level int32, ptr unsafe.Pointer, length int32)

// Log writes message as one line of the host's log, tagged with the
// module's name; the host rate-limits a module's lines. (ABI version 2:
// the host's `sluice.log` import.)
func Log(level Level, message string) {
	if len(message) == 0 {
		message = " "
	}
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(message)), int32(len(message)))
}
