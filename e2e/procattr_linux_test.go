package e2e

import "syscall"

// procAttr makes the kernel kill a server if the test binary dies first
// (a `go test -timeout` panic skips t.Cleanup).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
