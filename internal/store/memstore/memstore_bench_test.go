package memstore

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// benchEvent is a typical agent event: one trace and run per session,
// correlation metadata shared per run, a small output.
func benchEvent(session string, meta map[string]any) *telemetry.Event {
	return &telemetry.Event{
		EventType: telemetry.EventModelDelta, TraceID: "trace_" + session, SpanID: "span_bench",
		SessionID: session, RunID: "run_" + session, Actor: telemetry.Actor{Type: telemetry.ActorModel, Name: "m"},
		Output: []byte(`{"delta":"hello"}`), Metadata: meta,
	}
}

// BenchmarkEventAppend measures appends: to one ever-growing session,
// spread over 1,000 sessions, in steady state with eviction (runs of 100
// events in fresh sessions, 100 sessions kept), and from all CPUs at once.
func BenchmarkEventAppend(b *testing.B) {
	meta := map[string]any{"session_id": "s", "run_id": "run_bench"}
	b.Run("one-session", func(b *testing.B) {
		s := New()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = s.EventAppend(ctx, benchEvent("s", meta))
		}
	})
	b.Run("1000-sessions", func(b *testing.B) {
		s := New()
		ctx := context.Background()
		sessions := make([]string, 1000)
		for i := range sessions {
			sessions[i] = "s" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = s.EventAppend(ctx, benchEvent(sessions[i%len(sessions)], meta))
			i++
		}
	})
	b.Run("steady-state-eviction", func(b *testing.B) {
		s := NewWithConfig(Config{MaxSessions: 100})
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = s.EventAppend(ctx, benchEvent("s"+strconv.Itoa(i/100), meta))
			i++
		}
	})
	b.Run("steady-state-eviction-shared-run", func(b *testing.B) {
		// One run id across every session (not what the server writes,
		// but a store must not slow down quadratically on it).
		s := NewWithConfig(Config{MaxSessions: 100})
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e := benchEvent("s"+strconv.Itoa(i/100), meta)
			e.TraceID, e.RunID = "trace_shared", "run_shared"
			_ = s.EventAppend(ctx, e)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := New()
		ctx := context.Background()
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			session := "s" + strconv.FormatInt(n.Add(1), 10)
			for pb.Next() {
				_ = s.EventAppend(ctx, benchEvent(session, meta))
			}
		})
	})
}

// startFollowers starts n followers of session, each calling onEvent for
// every event it gets, and returns once all of them have received one
// warm-up event (so they are past their replay and waiting). stop ends
// them and waits for them to return.
func startFollowers(s *Store, session string, n int, onEvent func(i int, e telemetry.Event)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg, ready sync.WaitGroup
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			first := true
			p := telemetry.FollowParams{SessionID: session, KeepAlive: 15 * time.Second}
			for e, err := range telemetry.Follow(ctx, s, p) {
				if err != nil || e.SequenceNumber == 0 {
					continue
				}
				if first {
					first = false
					ready.Done()
					continue
				}
				onEvent(i, e)
			}
		})
	}
	_ = s.EventAppend(context.Background(), &telemetry.Event{EventType: "warm_up", SessionID: session})
	ready.Wait()
	return func() {
		cancel()
		wg.Wait()
	}
}

// BenchmarkFollowFanOut measures delivery of one append to 1,000
// followers of the session: ns/op is the time until all have it; p50-ns
// and p99-ns are the append-to-delivery latency of single followers.
func BenchmarkFollowFanOut(b *testing.B) {
	const followers = 1000
	s := New()
	samples := make([][]time.Duration, followers)
	var remaining atomic.Int64
	delivered := make(chan struct{}, 1)
	stop := startFollowers(s, "fan", followers, func(i int, e telemetry.Event) {
		samples[i] = append(samples[i], time.Since(e.Timestamp))
		if remaining.Add(-1) == 0 {
			delivered <- struct{}{}
		}
	})
	ctx := context.Background()
	for b.Loop() {
		remaining.Store(followers)
		_ = s.EventAppend(ctx, &telemetry.Event{EventType: "x", SessionID: "fan", Timestamp: time.Now()})
		<-delivered
	}
	b.StopTimer()
	stop()
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkIdleFollowerMemory measures the memory one idle follower holds
// (heap and stack, after GC): a session's followers waiting for the next
// event, each with its keep-alive ticker.
func BenchmarkIdleFollowerMemory(b *testing.B) {
	const followers = 1000
	var total float64
	n := 0
	for b.Loop() {
		n++
		s := New()
		before := liveBytes()
		stop := startFollowers(s, "idle", followers, func(int, telemetry.Event) {})
		after := liveBytes()
		stop()
		total += float64(after-before) / followers
	}
	b.ReportMetric(total/float64(n), "B/follower")
}

// liveBytes is the heap in use by live objects plus goroutine stacks.
func liveBytes() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc) + int64(m.StackInuse)
}
