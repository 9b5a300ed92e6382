package otelexport

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// gotSpan is one exported span in a shape both the SDK's recorder and the
// OTLP receiver can fill, so the two kinds of test assert the same way.
type gotSpan struct {
	Name                      string
	TraceID, SpanID, ParentID string // hex; ParentID empty for a root
	Kind                      string
	Start, End                time.Time
	Attrs                     map[string]any
	Error                     bool
	StatusMessage             string
}

// tree returns one "parent > child" line per span, sorted; a root's line
// starts with " > ".
func tree(spans []gotSpan) []string {
	byID := map[string]string{}
	for _, s := range spans {
		byID[s.SpanID] = s.Name
	}
	var lines []string
	for _, s := range spans {
		parent := ""
		if s.ParentID != "" {
			var ok bool
			if parent, ok = byID[s.ParentID]; !ok {
				parent = "<unexported parent>"
			}
		}
		lines = append(lines, parent+" > "+s.Name)
	}
	slices.Sort(lines)
	return lines
}

// traces returns the distinct trace ids.
func traces(spans []gotSpan) []string {
	var ids []string
	for _, s := range spans {
		if !slices.Contains(ids, s.TraceID) {
			ids = append(ids, s.TraceID)
		}
	}
	return ids
}

// named returns the spans called name, in start order.
func named(spans []gotSpan, name string) []gotSpan {
	var out []gotSpan
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b gotSpan) int { return a.Start.Compare(b.Start) })
	return out
}

// one returns the only span called name.
func one(t *testing.T, spans []gotSpan, name string) gotSpan {
	t.Helper()
	got := named(spans, name)
	if len(got) != 1 {
		t.Fatalf("got %d %s spans, want 1", len(got), name)
	}
	return got[0]
}

// pick returns the attributes of s named in want, so a test can compare
// the ones it cares about; a missing one shows as "<absent>".
func pick(s gotSpan, want map[string]any) map[string]any {
	out := make(map[string]any, len(want))
	for k := range want {
		v, ok := s.Attrs[k]
		if !ok {
			v = "<absent>"
		}
		out[k] = v
	}
	return out
}

// leaks returns every attribute value or status message of spans that
// contains marker.
func leaks(spans []gotSpan, marker string) []string {
	var out []string
	for _, s := range spans {
		for k, v := range s.Attrs {
			if str := fmt.Sprint(v); strings.Contains(str, marker) {
				out = append(out, s.Name+" "+k+"="+str)
			}
		}
		if strings.Contains(s.StatusMessage, marker) {
			out = append(out, s.Name+" status="+s.StatusMessage)
		}
	}
	return out
}
