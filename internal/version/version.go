// Package version reports the build's version string.
package version

import "runtime/debug"

// override is set at link time: -ldflags "-X github.com/omniserve/omniserve/internal/version.override=v1.2.3".
var override string

// String returns the version: the link-time override, else the module
// version recorded by the Go toolchain, else "0+unknown" (the original's
// placeholder for an unknown version).
func String() string {
	if override != "" {
		return override
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "0+unknown"
}
