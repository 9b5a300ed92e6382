//go:build !linux

package e2e

import "syscall"

// procAttr is nil where there is no parent-death signal: a server outlives
// a test binary that dies without running t.Cleanup.
func procAttr() *syscall.SysProcAttr { return nil }
