package workspace

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxPathLength is the longest path, in bytes, [CleanPath] accepts
	// before cleaning. It leaves room for a backend's own prefix within
	// the 1,024-byte key limit of S3 and R2.
	MaxPathLength = 768
	// MaxSegmentLength is the longest path element, in bytes, that
	// [CleanPath] accepts: the file-name limit of common file systems.
	MaxSegmentLength = 255
)

// InvalidPathError reports a refused path and why. It matches
// [ErrInvalidPath].
type InvalidPathError struct {
	// Path is the path as given.
	Path string
	// Reason says what is wrong, such as "contains a .. segment".
	Reason string
}

// Error reads like `invalid workspace path "../x": contains a .. segment`.
// Long paths are shortened and unprintable bytes escaped.
func (e *InvalidPathError) Error() string {
	p := e.Path
	if len(p) > 64 {
		p = p[:64] + "..."
	}
	return "invalid workspace path " + strconv.Quote(p) + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidPath].
func (e *InvalidPathError) Is(target error) bool { return target == ErrInvalidPath }

// CleanPath checks a workspace path and returns its canonical form, the
// form every [Store] method works with and reports in [FileInfo.Path].
//
// It refuses, with an [*InvalidPathError]: the empty path; paths longer
// than [MaxPathLength] bytes or with an element longer than
// [MaxSegmentLength]; invalid UTF-8; backslashes; NUL and other control
// characters; absolute paths; any ".." element, even one that would stay
// inside the workspace ("a/../b"); and paths that name the root itself
// once cleaned (".", "./").
//
// It accepts and collapses harmless spellings: repeated slashes ("a//b"
// is "a/b"), "." elements ("./a/./b" is "a/b") and a trailing slash ("a/"
// is "a").
func CleanPath(p string) (string, error) {
	clean, reason := cleanPath(p)
	if reason != "" {
		return "", &InvalidPathError{Path: p, Reason: reason}
	}
	return clean, nil
}

// cleanPath returns p's canonical form, or why p is refused.
func cleanPath(p string) (clean, reason string) {
	if reason := pathProblem(p); reason != "" {
		return "", reason
	}
	var b strings.Builder
	b.Grow(len(p))
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg)
	}
	if b.Len() == 0 {
		return "", "names no file"
	}
	return b.String(), ""
}

// pathProblem returns why p is refused, or "" when it may be cleaned.
func pathProblem(p string) string {
	switch {
	case p == "":
		return "is empty"
	case len(p) > MaxPathLength:
		return "is longer than " + strconv.Itoa(MaxPathLength) + " bytes"
	case !utf8.ValidString(p):
		return "is not valid UTF-8"
	case p[0] == '/':
		return "is absolute"
	}
	for _, r := range p {
		switch {
		case r == '\\':
			return `contains a backslash`
		case r == 0:
			return "contains a NUL character"
		case unicode.IsControl(r):
			return "contains a control character"
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "..":
			return "contains a .. segment"
		case len(seg) > MaxSegmentLength:
			return "has an element longer than " + strconv.Itoa(MaxSegmentLength) + " bytes"
		}
	}
	return ""
}

// Join joins elements with slashes and cleans the result with
// [CleanPath], as in Join(namespace, RunJSON).
func Join(elem ...string) (string, error) {
	return CleanPath(strings.Join(elem, "/"))
}

// AgentRoot is where the agent's file tools and the run context show the
// workspace's files area: the path "a/b" appears to the agent as
// "/workspace/a/b".
const AgentRoot = "/workspace"

// AgentPath returns how a clean workspace path appears to the agent,
// under [AgentRoot].
func AgentPath(p string) string { return AgentRoot + "/" + p }

// CleanAgentPath cleans a path an agent supplied: a path under
// [AgentRoot] ("/workspace/a/b") has that prefix removed, then the result,
// like any other path, goes through [CleanPath]. Other absolute paths are
// refused.
func CleanAgentPath(p string) (string, error) {
	rest := p
	if p == AgentRoot {
		rest = ""
	} else if r, ok := strings.CutPrefix(p, AgentRoot+"/"); ok {
		rest = r
	}
	if rest == "" {
		return "", &InvalidPathError{Path: p, Reason: "names no file"}
	}
	clean, reason := cleanPath(rest)
	if reason != "" {
		return "", &InvalidPathError{Path: p, Reason: reason}
	}
	return clean, nil
}
