//go:build !unix

package mcptool

import "os/exec"

// ownProcessGroup does nothing where process groups are not available.
func ownProcessGroup(*exec.Cmd) {}

// terminateProcessGroup kills cmd's process: there is no gentler signal.
func terminateProcessGroup(cmd *exec.Cmd) { killProcessGroup(cmd) }

// killProcessGroup kills cmd's process; its descendants are not reached.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
