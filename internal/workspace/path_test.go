package workspace

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	long := strings.Repeat(strings.Repeat("a", 127)+"/", 5) + strings.Repeat("a", 128)
	longSeg := strings.Repeat("s", MaxSegmentLength)
	tests := []struct {
		in, want string // want "" means refused
	}{
		// Accepted as is.
		{"a", "a"},
		{"output.md", "output.md"},
		{"background/agent/task/run_1/events.jsonl", "background/agent/task/run_1/events.jsonl"},
		{"notes/Résumé draft.md", "notes/Résumé draft.md"},
		{"日本/ファイル.txt", "日本/ファイル.txt"},
		{"...", "..."},
		{"a/..b/c..", "a/..b/c.."},
		{".hidden", ".hidden"},
		{long, long},
		{longSeg, longSeg},
		// Harmless spellings, collapsed.
		{"a//b", "a/b"},
		{"a///b//c", "a/b/c"},
		{"./a", "a"},
		{"a/./b", "a/b"},
		{"a/", "a"},
		{"a/b/", "a/b"},
		{"././a/.", "a"},
		// Refused.
		{"", ""},
		{".", ""},
		{"./", ""},
		{".//.", ""},
		{"/", ""},
		{"/etc/passwd", ""},
		{"//a", ""},
		{"..", ""},
		{"../x", ""},
		{"a/../../x", ""},
		{"a/..", ""},
		{"a/../b", ""},
		{"a/b/../..", ""},
		{`a\b`, ""},
		{`..\x`, ""},
		{`\\server\share`, ""},
		{"a\x00b", ""},
		{"a\nb", ""},
		{"a\rb", ""},
		{"a\tb", ""},
		{"a\x1bb", ""},
		{"a\x7fb", ""},
		{"a\u0085b", ""},
		{"\xff", ""},
		{"a/\xc0\xaf", ""},
		{long + "a", ""},
		{"a/" + longSeg + "s", ""},
	}
	for _, tc := range tests {
		name := strings.ToValidUTF8(tc.in, "?")
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := CleanPath(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("CleanPath(%q) = %q, %v; want ErrInvalidPath", tc.in, got, err)
				}
				var pe *InvalidPathError
				if !errors.As(err, &pe) || pe.Path != tc.in || pe.Reason == "" {
					t.Errorf("CleanPath(%q) error %#v, want an *InvalidPathError naming the path and a reason", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestInvalidPathErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := CleanPath("../x")
	if got, want := err.Error(), `invalid workspace path "../x": contains a .. segment`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = CleanPath("a\x00" + strings.Repeat("b", 1000))
	if msg := err.Error(); len(msg) > 160 || strings.ContainsRune(msg, 0) {
		t.Errorf("message %q is not shortened and escaped", msg)
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		elem []string
		want string
	}{
		{[]string{"background/a/t/r", RunJSON}, "background/a/t/r/run.json"},
		{[]string{"background/a/t/r/", ScratchpadDir, "notes.md"}, "background/a/t/r/scratchpad/notes.md"},
		{[]string{"a", "..", "b"}, ""},
		{[]string{"", "etc/passwd"}, ""},
		{[]string{}, ""},
	}
	for _, tc := range tests {
		got, err := Join(tc.elem...)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Join(%q) = %q, %v; want ErrInvalidPath", tc.elem, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Join(%q) = %q, %v; want %q", tc.elem, got, err, tc.want)
		}
	}
}

func TestAgentPaths(t *testing.T) {
	t.Parallel()
	if got, want := AgentPath("background/a/t/r"), "/workspace/background/a/t/r"; got != want {
		t.Errorf("AgentPath = %q, want %q", got, want)
	}
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"/workspace/background/a/t/r/output.md", "background/a/t/r/output.md"},
		{"/workspace/a//b/", "a/b"},
		{"scratchpad/notes.md", "scratchpad/notes.md"},
		{"./logs/run.log", "logs/run.log"},
		{"/workspace", ""},
		{"/workspace/", ""},
		{"/workspace/.", ""},
		{"/workspace/../etc/passwd", ""},
		{"/workspace/a/../../x", ""},
		{"/workspacex/a", ""},
		{"/etc/passwd", ""},
		{"../x", ""},
		{"/workspace/a\x00b", ""},
	}
	for _, tc := range tests {
		got, err := CleanAgentPath(tc.in)
		if tc.want == "" {
			var pe *InvalidPathError
			if !errors.As(err, &pe) || pe.Path != tc.in {
				t.Errorf("CleanAgentPath(%q) = %q, %v; want an *InvalidPathError naming the path", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CleanAgentPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzCleanPath checks that whatever CleanPath accepts is a canonical,
// local path that cannot leave the workspace.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "a//b", "./a", "a/", "..", "../x", "a/../../x", "/etc/passwd",
		`a\b`, "a\x00b", "", ".", "...", "a/./b", "日本/ファイル", "\xff", "a\u2028b",
		"/workspace/a", strings.Repeat("ab/", 300),
	} {
		f.Add(s)
	}
	f.Add(strings.Repeat("a", 255) + "/" + strings.Repeat("b", 255))
	f.Fuzz(func(t *testing.T, in string) {
		got, err := CleanPath(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("CleanPath(%q) error %v does not match ErrInvalidPath", in, err)
			}
			if got != "" {
				t.Fatalf("CleanPath(%q) returned %q with an error", in, got)
			}
			return
		}
		switch {
		case got == "" || len(got) > MaxPathLength:
			t.Fatalf("CleanPath(%q) = %q: bad length", in, got)
		case !utf8.ValidString(got):
			t.Fatalf("CleanPath(%q) = %q: invalid UTF-8", in, got)
		case path.Clean(got) != got || path.IsAbs(got):
			t.Fatalf("CleanPath(%q) = %q: not a clean relative path", in, got)
		case !filepath.IsLocal(filepath.FromSlash(got)):
			t.Fatalf("CleanPath(%q) = %q: not local", in, got)
		case strings.ContainsAny(got, "\\\x00"):
			t.Fatalf("CleanPath(%q) = %q: backslash or NUL", in, got)
		case strings.IndexFunc(got, unicode.IsControl) >= 0:
			t.Fatalf("CleanPath(%q) = %q: control character", in, got)
		}
		for seg := range strings.SplitSeq(got, "/") {
			if seg == "" || seg == "." || seg == ".." || len(seg) > MaxSegmentLength {
				t.Fatalf("CleanPath(%q) = %q: bad element %q", in, got, seg)
			}
		}
		if again, err := CleanPath(got); err != nil || again != got {
			t.Fatalf("CleanPath not idempotent on %q: %q, %v", got, again, err)
		}
		if agent, err := CleanAgentPath(AgentPath(got)); err != nil || agent != got {
			t.Fatalf("CleanAgentPath(AgentPath(%q)) = %q, %v", got, agent, err)
		}
	})
}

func BenchmarkCleanPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CleanPath("background/served/daily_report/run_0123456789abcdef01234567/events.jsonl"); err != nil {
			b.Fatal(err)
		}
	}
}
