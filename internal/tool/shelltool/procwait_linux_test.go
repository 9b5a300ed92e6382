//go:build linux

package shelltool

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// sysPidfdOpen is pidfd_open(2), which has the same number on every Linux
// architecture Go supports.
const sysPidfdOpen = 434

// waitExited blocks until process pid has terminated, which a pidfd
// reports by turning readable, and fails the test if that does not happen.
// A terminated process may linger as a zombie when its new parent does not
// reap it; that counts as gone. The deadline only keeps a broken kill from
// hanging the test run.
func waitExited(t *testing.T, pid int) {
	t.Helper()
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), uintptr(syscall.O_NONBLOCK), 0)
	switch {
	case errno == syscall.ESRCH:
		return // already reaped
	case errno == syscall.ENOSYS || errno == syscall.EPERM:
		t.Skipf("pidfd_open unavailable: %v", errno)
	case errno != 0:
		t.Fatalf("pidfd_open %d: %v", pid, errno)
	}
	f := os.NewFile(fd, "pidfd")
	defer f.Close()
	if err := f.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("pidfd of %d is not pollable: %v", pid, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	// The first call asks the poller to wait for readability; the second,
	// made once the pidfd is readable, ends the wait.
	polled := false
	err = rc.Read(func(uintptr) bool {
		done := polled
		polled = true
		return done
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("process %d is still running", pid)
	}
	if err != nil {
		t.Fatalf("wait for process %d: %v", pid, err)
	}
}
