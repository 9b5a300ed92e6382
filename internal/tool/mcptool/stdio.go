package mcptool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioGrace is how long stopping a stdio server waits after closing its
// stdin, and again after asking it to terminate, before the next step; the
// MCP spec asks clients to allow a "reasonable time".
const stdioGrace = 5 * time.Second

// stdioTransport starts a server process and talks to it over its stdin and
// stdout. Unlike the SDK's CommandTransport it stops the whole process group
// (on Unix), so that a launcher such as npx does not leave its child behind.
type stdioTransport struct {
	cmd *exec.Cmd
}

var _ mcp.Transport = (*stdioTransport)(nil)

// Connect starts the process.
func (t *stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	stdin, err := t.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	ownProcessGroup(t.cmd)
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.cmd.Path, err)
	}
	p := &process{cmd: t.cmd, stdin: stdin}
	// The connection is closed through stdin (p.Close); stdout is closed by
	// cmd.Wait once the process has exited.
	return (&mcp.IOTransport{Reader: io.NopCloser(stdout), Writer: p}).Connect(ctx)
}

// process is the write side of a stdio connection. Closing it stops the
// process: close stdin, wait, terminate, wait, kill.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	once sync.Once
	err  error
}

// Write implements [io.Writer].
func (p *process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close implements [io.Closer]. It returns once the process has exited.
func (p *process) Close() error {
	p.once.Do(func() { p.err = p.stop() })
	return p.err
}

func (p *process) stop() error {
	_ = p.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	// Whatever the leader did, nothing of its group may outlive it.
	defer killProcessGroup(p.cmd)

	if err, ok := waitExit(exited, stdioGrace); ok {
		return exitError(err)
	}
	terminateProcessGroup(p.cmd)
	if err, ok := waitExit(exited, stdioGrace); ok {
		return exitError(err)
	}
	killProcessGroup(p.cmd)
	return exitError(<-exited)
}

// waitExit waits up to d for the process to exit.
func waitExit(exited <-chan error, d time.Duration) (error, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-exited:
		return err, true
	case <-t.C:
		return nil, false
	}
}

// exitError drops the exit status of a process we stopped ourselves: a
// server killed by our signal, or exiting non-zero on the way out, is not a
// failure to close.
func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}
