package background

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/task"
)

func TestSequenceArithmetic(t *testing.T) {
	t.Parallel()
	// mark is (sequence, generation written); gen is the run's lease
	// generation now. The histories name what happened since the mark.
	tests := []struct {
		name                                 string
		seq, markGen, gen                    int64
		wantClaim, wantQueued, wantRecovered int64
	}{
		{"fresh manual run", 1, 0, 0, 0, 2, 0},
		{"claimed after creation", 1, 0, 1, 2, 0, 0},
		{"holder retried, claimed again", 5, 1, 2, 6, 0, 0},
		{"holder retried, still queued", 5, 1, 1, 0, 6, 0},
		{"holder died, recovered", 3, 1, 2, 0, 5, 4},
		{"holder died, recovered, claimed", 3, 1, 3, 5, 0, 0},
		{"claim never wrote, recovered", 1, 0, 2, 0, 3, 2},
		{"claim never wrote twice, recovered twice", 1, 0, 4, 0, 4, 3},
		{"recovered twice, claimed", 1, 0, 5, 4, 0, 0},
		{"retried, claim never wrote, recovered", 5, 1, 3, 0, 7, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &task.Run{LeaseGeneration: tt.gen, Metadata: seqMetadata(tt.seq, tt.markGen)}
			if tt.wantClaim != 0 {
				if got := seqAfterClaim(r); got != tt.wantClaim {
					t.Errorf("after claim %d, want %d", got, tt.wantClaim)
				}
			}
			if tt.wantQueued != 0 {
				if got := seqWhileQueued(r); got != tt.wantQueued {
					t.Errorf("while queued %d, want %d", got, tt.wantQueued)
				}
			}
			if tt.wantRecovered != 0 {
				if got := seqAfterRecovery(r); got != tt.wantRecovered {
					t.Errorf("after recovery %d, want %d", got, tt.wantRecovered)
				}
			}
		})
	}
	// Numbers survive a JSON round trip through a durable store.
	var md map[string]any
	raw, _ := json.Marshal(seqMetadata(7, 2))
	if err := json.Unmarshal(raw, &md); err != nil {
		t.Fatal(err)
	}
	if got := seqAfterClaim(&task.Run{LeaseGeneration: 3, Metadata: md}); got != 8 {
		t.Errorf("after a JSON round trip: %d", got)
	}
	if got := seqAfterClaim(&task.Run{LeaseGeneration: 1}); got != 1 {
		t.Errorf("without a mark: %d", got)
	}
}

func TestEventJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	exp := at.Add(30 * time.Second)
	ev := &RunEvent{
		Event: EventRunHeartbeat, Timestamp: at, Sequence: 4, AgentID: "a", TaskID: "t", RunID: "r",
		SessionID: "background:a:t", Status: task.RunRunning, Attempt: 1, WorkspacePath: "background/a/t/r",
		WorkerID: "worker_1", LeaseGeneration: 1, HeartbeatAt: &at, LeaseExpiresAt: &exp,
		Run: &task.Run{RunID: "r"},
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event": "background_run_heartbeat", "timestamp": "2026-01-01T09:00:00Z", "sequence": 4.0,
		"agent_id": "a", "task_id": "t", "run_id": "r", "session_id": "background:a:t", "status": "running",
		"attempt": 1.0, "workspace_path": "background/a/t/r", "worker_id": "worker_1", "lease_generation": 1.0,
		"heartbeat_at": "2026-01-01T09:00:00Z", "lease_expires_at": "2026-01-01T09:00:30Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event JSON (-want +got):\n%s", diff)
	}
}

func TestClaimWriteIsRetriedWithinTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		fails := failTimes(2)
		fs := &flakyStore{Store: b.store, RunHeartbeatFunc: func(*task.RunHeartbeatParams) error { return fails() }}
		m := b.manager(func(c *Config) { c.Store = fs })
		b.task("report")
		b.start(m)
		start := time.Now()
		r, err := m.RunNow(b.ctx, RunNowParams{TaskID: "report", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCompleted {
			t.Errorf("status %s", r.Status)
		}
		if took := time.Since(start); took >= 8*time.Second {
			t.Errorf("took %v: waited for the lease to expire", took)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
	})
}

func TestSinkErrorsNeverStopARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		m := b.manager(func(c *Config) {
			c.Events = sinkFunc(func(context.Context, *RunEvent) error { return errors.New("telemetry down") })
		})
		b.task("report")
		r, err := m.RunNow(b.ctx, RunNowParams{TaskID: "report", Wait: true})
		if err != nil || r.Status != task.RunCompleted {
			t.Fatalf("run %v %v", r, err)
		}
		if got := len(b.files.eventNames(t, r.RunID)); got != 4 {
			t.Errorf("events.jsonl lines %d", got)
		}
	})
}

type sinkFunc func(ctx context.Context, ev *RunEvent) error

func (f sinkFunc) RunEventAppend(ctx context.Context, ev *RunEvent) error { return f(ctx, ev) }
