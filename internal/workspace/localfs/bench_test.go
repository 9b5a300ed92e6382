package localfs

import (
	"fmt"
	"testing"
)

// BenchmarkFileAppend measures appending one lifecycle event line, the
// workspace's most frequent write.
func BenchmarkFileAppend(b *testing.B) {
	s, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	line := []byte(`{"event":"background_run_heartbeat","sequence":7,"run_id":"run_0123456789abcdef01234567"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.FileAppend(b.Context(), "background/a/t/r/events.jsonl", line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileWrite measures replacing run.json, rewritten after every
// lifecycle event.
func BenchmarkFileWrite(b *testing.B) {
	s, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := fmt.Appendf(nil, `{"run_id":"run_1","status":"running","pad":%q}`, make([]byte, 1500))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.FileWrite(b.Context(), "background/a/t/r/run.json", data); err != nil {
			b.Fatal(err)
		}
	}
}
