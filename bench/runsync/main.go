// Command runsync measures POST /run/sync throughput of an OmniServe server
// running the offline echo model, and of a bare net/http handler doing the
// same JSON decode and encode, in the same run over loopback, and prints
// both and their ratio.
//
//	go run ./bench/runsync [-c 32] [-n 20000] [-max 30s]
//
// Load goes only to 127.0.0.1; each phase is bounded by -n requests and
// -max time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omniserve/omniserve"
)

type runRequest struct {
	Query     string `json:"query"`
	SessionID string `json:"session_id,omitempty"`
}

type runResponse struct {
	Response  string         `json:"response"`
	SessionID string         `json:"session_id"`
	AgentName string         `json:"agent_name"`
	Metric    map[string]any `json:"metric"`
	TraceID   *string        `json:"trace_id"`
	RunID     string         `json:"run_id"`
}

// bare decodes the request and encodes a response of the same shape, with
// no agent, routing, validation or telemetry: the ceiling for this machine.
func bare(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Query == "" {
		http.Error(w, `{"detail":"bad request"}`, http.StatusUnprocessableEntity)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(runResponse{Response: req.Query, SessionID: "s", AgentName: "bench", RunID: "run_x"})
}

type result struct {
	n       int
	elapsed time.Duration
	p50     time.Duration
	p99     time.Duration
	errors  int64
}

func (r result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func load(url string, conc, total int, maxDur time.Duration) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	body, _ := json.Marshal(runRequest{Query: "What is the answer to everything?"})
	var (
		next    atomic.Int64
		errs    atomic.Int64
		mu      sync.Mutex
		lats    = make([]time.Duration, 0, total)
		wg      sync.WaitGroup
		started = time.Now()
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, total/conc+1)
			for next.Add(1) <= int64(total) && ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	res := result{n: len(lats), elapsed: elapsed, errors: errs.Load()}
	if len(lats) > 0 {
		res.p50 = lats[len(lats)/2]
		res.p99 = lats[len(lats)*99/100]
	}
	return res
}

func median(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].rps() < rs[j].rps() })
	return rs[len(rs)/2]
}

func main() {
	conc := flag.Int("c", 32, "concurrent clients")
	total := flag.Int("n", 20000, "requests per target per round")
	rounds := flag.Int("rounds", 3, "alternating rounds; the median round of each target is reported")
	maxDur := flag.Duration("max", 30*time.Second, "time limit per target")
	flag.Parse()
	// Run with the garbage collector setting the omniserve binary ships
	// with (cmd/omniserve), for both targets alike.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(200)
	}

	agent, err := omniserve.NewAgent(omniserve.AgentConfig{
		Name:  "bench",
		Model: omniserve.ModelConfig{Provider: "echo"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Only the values below matter; ignore the caller's environment.
	noEnv := func(string) (string, bool) { return "", false }
	srv := omniserve.New(agent, omniserve.Config{LookupEnv: noEnv})
	if err := srv.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ours := httptest.NewServer(srv.Handler())
	defer ours.Close()
	base := httptest.NewServer(http.HandlerFunc(bare))
	defer base.Close()

	// Warm both up.
	load(base.URL, *conc, 500, 10*time.Second)
	load(ours.URL+"/run/sync", *conc, 500, 10*time.Second)

	// Alternate the targets so background load on the machine hits both
	// alike, and report each one's median round.
	var bs, os_ []result
	for range max(*rounds, 1) {
		bs = append(bs, load(base.URL, *conc, *total, *maxDur))
		os_ = append(os_, load(ours.URL+"/run/sync", *conc, *total, *maxDur))
	}
	b, o := median(bs), median(os_)
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		gogc = "200 (the omniserve default)"
	}
	fmt.Printf("machine: %d CPUs, %s, GOGC %s, concurrency %d, %d requests per target per round, median of %d rounds\n", runtime.NumCPU(), runtime.Version(), gogc, *conc, *total, len(bs))
	fmt.Printf("bare net/http:       %8.0f req/s  p50 %-10v p99 %-10v errors %d\n", b.rps(), b.p50.Round(time.Microsecond), b.p99.Round(time.Microsecond), b.errors)
	fmt.Printf("omniserve /run/sync: %8.0f req/s  p50 %-10v p99 %-10v errors %d\n", o.rps(), o.p50.Round(time.Microsecond), o.p99.Round(time.Microsecond), o.errors)
	fmt.Printf("ratio: %.1f%% of bare (target >= 50%%)\n", 100*o.rps()/b.rps())
	if o.errors > 0 || b.errors > 0 {
		os.Exit(1)
	}
}
