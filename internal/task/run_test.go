package task

import (
	"errors"
	"testing"
)

func TestCanTransition(t *testing.T) {
	allowed := map[[2]RunStatus]bool{}
	for _, p := range [][2]RunStatus{
		{RunQueued, RunClaimed}, {RunQueued, RunCancelled}, {RunQueued, RunSkipped},
		{RunClaimed, RunQueued}, {RunClaimed, RunRunning}, {RunClaimed, RunCancelled}, {RunClaimed, RunFailed},
		{RunRunning, RunRetrying}, {RunRunning, RunCompleted}, {RunRunning, RunFailed}, {RunRunning, RunTimeout}, {RunRunning, RunCancelled},
		{RunRetrying, RunQueued}, {RunRetrying, RunCancelled},
	} {
		allowed[p] = true
	}
	// Every pair of statuses, so a change to the table shows up here.
	for _, from := range RunStatuses {
		for _, to := range RunStatuses {
			if got, want := CanTransition(from, to), allowed[[2]RunStatus{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if CanTransition("bogus", RunQueued) || CanTransition(RunQueued, "bogus") {
		t.Error("unknown statuses transition")
	}
}

func TestStatusClasses(t *testing.T) {
	tests := []struct {
		s                      RunStatus
		active, terminal, held bool
	}{
		{RunQueued, true, false, false},
		{RunClaimed, true, false, true},
		{RunRunning, true, false, true},
		{RunRetrying, true, false, true},
		{RunCompleted, false, true, false},
		{RunFailed, false, true, false},
		{RunCancelled, false, true, false},
		{RunTimeout, false, true, false},
		{RunSkipped, false, true, false},
		{"bogus", false, false, false},
	}
	for _, tt := range tests {
		if tt.s.Active() != tt.active || tt.s.Terminal() != tt.terminal || tt.s.Held() != tt.held {
			t.Errorf("%s: active %v terminal %v held %v, want %v %v %v",
				tt.s, tt.s.Active(), tt.s.Terminal(), tt.s.Held(), tt.active, tt.terminal, tt.held)
		}
		if tt.terminal {
			for _, to := range RunStatuses {
				if CanTransition(tt.s, to) {
					t.Errorf("terminal %s may move to %s", tt.s, to)
				}
			}
		}
	}
}

func TestParseRunStatus(t *testing.T) {
	for _, s := range RunStatuses {
		if got, err := ParseRunStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseRunStatus(%q) = %q, %v", s, got, err)
		}
	}
	_, err := ParseRunStatus("x")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "status" || ve.Message != "'x' is not a valid RunStatus" || !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseRunStatus(x) error = %v", err)
	}
}

func TestPreview(t *testing.T) {
	long := make([]rune, MaxResultPreview+5)
	for i := range long {
		long[i] = 'é'
	}
	tests := []struct {
		in   string
		want int // runes
	}{
		{"", 0},
		{"short", 5},
		{string(long[:MaxResultPreview]), MaxResultPreview},
		{string(long), MaxResultPreview},
	}
	for _, tt := range tests {
		if got := []rune(Preview(tt.in)); len(got) != tt.want {
			t.Errorf("Preview of %d runes has %d, want %d", len([]rune(tt.in)), len(got), tt.want)
		}
	}
}
