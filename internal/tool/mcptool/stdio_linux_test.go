package mcptool

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// processDead reports whether pid has exited (gone, or a zombie waiting for
// its new parent to reap it).
func processDead(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// TestCloseStopsProcessGroup checks that a server's descendants do not
// outlive it, as npx's child would.
func TestCloseStopsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	m, _ := startManager(t, ManagerConfig{
		Servers: []ServerConfig{{
			Name:    "wrapped",
			Command: "sh",
			// A background sleep stands in for a launcher's child; then the
			// shell becomes the test server.
			Args: []string{"-c", `sleep 600 & echo $! > "$1"; exec "$0"`, os.Args[0], pidFile},
			Env:  map[string]string{stdioServerEnv: "1"},
		}},
		LookupEnvFunc: os.LookupEnv, // sh needs PATH to find sleep
	})
	if !m.AllConnected() {
		t.Fatalf("not connected: %+v", m.Status())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if processDead(pid) {
		t.Fatalf("sleep %d is not running before Close", pid)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// SIGKILL is delivered asynchronously and the process has no signal of
	// its own for us: poll, with a deadline.
	deadline := time.Now().Add(waitLimit)
	for !processDead(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d survived Close", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
