package task

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// MaxIDLength is the longest id [ValidateID] accepts.
const MaxIDLength = 128

// ValidateID checks that id is safe to use in keys, session ids and
// workspace paths: 1 to [MaxIDLength] characters from A–Z, a–z, 0–9, '_',
// '.' and '-', and not made of dots alone (so "." and ".." cannot walk a
// path). field names the id in the [*ValidationError].
func ValidateID(field, id string) error {
	switch {
	case id == "":
		return invalid(field, "is required")
	case len(id) > MaxIDLength:
		return invalid(field, "must be at most %d characters", MaxIDLength)
	case strings.Trim(id, ".") == "":
		return invalid(field, "must not be made of dots alone")
	}
	for _, c := range []byte(id) {
		if !safeIDByte(c) {
			return invalid(field, "must match ^[A-Za-z0-9_.-]+$")
		}
	}
	return nil
}

func safeIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '-'
}

// NewRunID returns a fresh random run id, "run_" and 24 hex digits.
func NewRunID() string { return "run_" + randomHex(12) }

// NewAttemptID returns a fresh random attempt id, "attempt_" and 24 hex
// digits.
func NewAttemptID() string { return "attempt_" + randomHex(12) }

// NewWorkerID returns a fresh random worker id, "worker_" and 12 hex
// digits, as the original names its workers.
func NewWorkerID() string { return "worker_" + randomHex(6) }

// NewLeaseToken returns a fresh random lease token. Every claim gets a new
// one, so a token identifies one holding of one lease.
func NewLeaseToken() string { return randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails and always fills b.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
