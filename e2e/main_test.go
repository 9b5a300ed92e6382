// Package e2e runs the omniserve binary as separate OS processes against
// shared SQLite and PostgreSQL stores and checks the contracts that only
// hold across processes: a queued run survives a restart, a run whose
// worker was killed is recovered once, many workers share one queue
// without losing or repeating a run, and an event stream resumes on another
// process without a gap.
//
// TestMain builds the binary once; every test starts its own processes on
// free loopback ports and kills them in t.Cleanup. PostgreSQL tests need
// OMNISERVE_TEST_POSTGRES_URL (scripts/test-services.sh prints it) and give
// every test a database of its own, dropped afterwards.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binary is the omniserve executable TestMain built.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "omniserve-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "omniserve")
	if err := buildBinary(binary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goleak:", err)
			return 1
		}
	}
	return code
}

// buildBinary builds ./cmd/omniserve from the module root into out.
func buildBinary(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	modOut, err := exec.CommandContext(ctx, goTool, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(modOut))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the module (GOMOD=%q)", gomod)
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, "./cmd/omniserve")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/omniserve: %w\n%s", err, b)
	}
	return nil
}
