package builtin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGetTime(t *testing.T) {
	t.Parallel()

	fixed := time.Date(2025, time.March, 14, 15, 9, 26, 535_000_000, time.UTC)
	tl, err := newGetTime(func() time.Time { return fixed })
	if err != nil {
		t.Fatalf("newGetTime: %v", err)
	}

	tests := []struct {
		name string
		args string
		want getTimeResult
	}{
		{
			name: "defaults to UTC",
			args: `{}`,
			want: getTimeResult{Time: "2025-03-14T15:09:26Z", TimeZone: "UTC", Unix: 1741964966},
		},
		{
			name: "no arguments at all",
			args: ``,
			want: getTimeResult{Time: "2025-03-14T15:09:26Z", TimeZone: "UTC", Unix: 1741964966},
		},
		{
			name: "empty zone means UTC",
			args: `{"timezone": ""}`,
			want: getTimeResult{Time: "2025-03-14T15:09:26Z", TimeZone: "UTC", Unix: 1741964966},
		},
		{
			name: "named zone",
			args: `{"timezone": "Asia/Tokyo"}`,
			want: getTimeResult{Time: "2025-03-15T00:09:26+09:00", TimeZone: "Asia/Tokyo", Unix: 1741964966},
		},
		{
			name: "zone with daylight saving in effect",
			args: `{"timezone": "America/New_York"}`,
			want: getTimeResult{Time: "2025-03-14T11:09:26-04:00", TimeZone: "America/New_York", Unix: 1741964966},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			text, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if err != nil {
				t.Fatalf("Call(%s): %v", tt.args, err)
			}
			var got getTimeResult
			if err := json.Unmarshal([]byte(text), &got); err != nil {
				t.Fatalf("result %s is not JSON: %v", text, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Call(%s) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestGetTimeResultShape(t *testing.T) {
	t.Parallel()

	fixed := time.Date(2025, time.January, 2, 3, 4, 5, 0, time.UTC)
	tl, err := newGetTime(func() time.Time { return fixed })
	if err != nil {
		t.Fatalf("newGetTime: %v", err)
	}
	got, err := tl.Call(t.Context(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	want := `{"time":"2025-01-02T03:04:05Z","timezone":"UTC","unix":1735787045}`
	if got != want {
		t.Errorf("Call = %s, want %s", got, want)
	}
}

func TestGetTimeErrors(t *testing.T) {
	t.Parallel()

	tl, err := newGetTime(time.Now)
	if err != nil {
		t.Fatalf("newGetTime: %v", err)
	}
	tests := []struct {
		args string
		want string
	}{
		{args: `{"timezone": "Mars/Olympus_Mons"}`, want: "Mars/Olympus_Mons"},
		{args: `{"timezone": "../../etc/passwd"}`, want: "../../etc/passwd"},
		{args: `{"timezone": "/etc/localtime"}`, want: "/etc/localtime"},
		{args: `{"timezone": "Local"}`, want: "Local"},
		{args: `{"timezone": 5}`, want: "timezone"},
		{args: `{"zone": "UTC"}`, want: "zone"},
	}
	for _, tt := range tests {
		got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
		if err == nil {
			t.Errorf("Call(%s) = %s, nil; want an error", tt.args, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Call(%s) error %q does not name %q", tt.args, err, tt.want)
		}
	}
}
