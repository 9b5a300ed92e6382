package telemetry_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFollowYieldsKeepAlivesWhileIdle(t *testing.T) {
	s := memstore.New()
	stop := make(chan struct{})
	var keepAlives, events int
	for e, err := range telemetry.Follow(t.Context(), s, telemetry.FollowParams{SessionID: "idle", Stop: stop, KeepAlive: time.Millisecond}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.SequenceNumber == 0 {
			keepAlives++
			if keepAlives == 3 {
				_ = s.EventAppend(t.Context(), &telemetry.Event{EventType: "x", SessionID: "idle"})
			}
			continue
		}
		events++
		close(stop)
	}
	if keepAlives < 3 || events != 1 {
		t.Errorf("keep-alives %d, events %d; want >= 3 and 1", keepAlives, events)
	}
}

func TestNewID(t *testing.T) {
	id := telemetry.NewID("run_")
	if len(id) != len("run_")+32 || id[:4] != "run_" || telemetry.NewID("run_") == id {
		t.Errorf("id %q", id)
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0", "42", "-1", "x", "9223372036854775807", "9223372036854775808", " 1", "+3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := telemetry.ParseCursor(s)
		if err != nil {
			if !errors.Is(err, telemetry.ErrInvalidCursor) {
				t.Fatalf("ParseCursor(%q) error %v is not ErrInvalidCursor", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseCursor(%q) = %d, negative", s, n)
		}
		if back, err := telemetry.ParseCursor(telemetry.FormatCursor(n)); err != nil || back != n {
			t.Fatalf("round trip of %d: %d, %v", n, back, err)
		}
	})
}
