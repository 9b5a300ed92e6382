// Command omniserve serves an LLM agent as a REST + Server-Sent-Events API.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // get_time and cron need zone data even in a minimal image

	"github.com/omniserve/omniserve/internal/cli"
)

// defaultGCPercent is the garbage collector's target when GOGC is unset.
// The server keeps a large, long-lived heap (the in-memory event log and
// session memory), which Go's default of 100 rescans often; 200 trades some
// memory for about a tenth more throughput (see bench/runsync). GOGC and
// GOMEMLIMIT still override it.
const defaultGCPercent = 200

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv})
	stop()
	os.Exit(code)
}
