// Package workspacetest is the contract suite every [workspace.Store]
// backend runs, and [Memory], an in-memory store for the tests of the
// packages that use a workspace.
//
// The suite covers writing, reading and atomically replacing files,
// appends (whole and in order under concurrent appenders), recursive sorted
// listings with implicit directories, stat, recursive delete, the
// not-found, conflict and size-cap errors, cancelled contexts, and the
// refusal of hostile paths by every method. A backend's test calls [Run]
// with a constructor for a fresh, empty store:
//
//	func TestWorkspaceContract(t *testing.T) {
//		workspacetest.Run(t, func(t *testing.T) workspace.Store {
//			s, err := localfs.New(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package workspacetest

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/workspace"
)

// Run runs the suite. newStore returns a fresh, empty store per subtest;
// each subtest runs in parallel with the others.
func Run(t *testing.T, newStore func(t *testing.T) workspace.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*bundle)
	}{
		// Files.
		{"WriteThenRead", testWriteRead},
		{"WriteCreatesParentDirectories", testWriteCreatesParents},
		{"OverwriteReplacesWholeContent", testOverwrite},
		{"EmptyFile", testEmptyFile},
		{"LargeBinaryContent", testLargeBinary},
		{"DataIsCopied", testDataIsCopied},
		{"UnicodeNames", testUnicodeNames},
		{"EquivalentSpellingsNameOneFile", testEquivalentSpellings},
		{"AppendCreatesAndExtends", testAppend},
		{"ReadSizeCap", testReadSizeCap},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"Conflicts", testConflicts},
		{"DeleteFilePrunesEmptyDirectories", testDeleteFile},
		{"DeleteDirectoryIsRecursive", testDeleteDirectory},
		// Listings.
		{"ListIsRecursiveAndSorted", testListRecursiveSorted},
		{"ListUnderPrefix", testListPrefix},
		{"ListOfMissingOrFileIsEmpty", testListEmpty},
		{"RunWorkspaceLayout", testRunLayout},
		// Paths and contexts.
		{"InvalidPathsRefusedByEveryMethod", testInvalidPaths},
		{"CancelledContextRefusedByEveryMethod", testCancelledContext},
		// Concurrency.
		{"ConcurrentAppendsKeepWholeLinesInOrder", testConcurrentAppends},
		{"OverwriteIsAtomicForReaders", testAtomicOverwrite},
		{"ConcurrentWritesAndDeletesInSharedDirectories", testConcurrentWriteDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(&bundle{t: t, s: newStore(t), ctx: t.Context(), start: time.Now()})
		})
	}
}

// InvalidPaths returns hostile paths every [workspace.Store] method
// refuses with [workspace.ErrInvalidPath]; the empty path is among them,
// though FileList reads it as the root. Backends can seed their own tests
// and fuzzers with them.
func InvalidPaths() []string {
	return []string{
		"",
		".",
		"./",
		"/",
		"/etc/passwd",
		"//server/share",
		"..",
		"../x",
		"../../../../../../etc/passwd",
		"a/../../x",
		"a/..",
		"a/../b",
		"background/a/t/../../../../x",
		`a\b`,
		`..\x`,
		`C:\Windows\win.ini`,
		"a\x00b",
		"a\x00/../x",
		"a\nb",
		"a\x1b[31mb",
		"a\x7fb",
		"\xff\xfe",
		strings.Repeat("a/", workspace.MaxPathLength/2) + "x",
		"a/" + strings.Repeat("s", workspace.MaxSegmentLength+1),
	}
}

// bundle is what one subtest works with.
type bundle struct {
	t     *testing.T
	s     workspace.Store
	ctx   context.Context
	start time.Time
}

func (b *bundle) write(p, data string) {
	b.t.Helper()
	if err := b.s.FileWrite(b.ctx, p, []byte(data)); err != nil {
		b.t.Fatalf("FileWrite(%q): %v", p, err)
	}
}

func (b *bundle) append(p, data string) {
	b.t.Helper()
	if err := b.s.FileAppend(b.ctx, p, []byte(data)); err != nil {
		b.t.Fatalf("FileAppend(%q): %v", p, err)
	}
}

func (b *bundle) read(p string) string {
	b.t.Helper()
	data, err := b.s.FileRead(b.ctx, p, 0)
	if err != nil {
		b.t.Fatalf("FileRead(%q): %v", p, err)
	}
	return string(data)
}

func (b *bundle) stat(p string) workspace.FileInfo {
	b.t.Helper()
	fi, err := b.s.FileStat(b.ctx, p)
	if err != nil {
		b.t.Fatalf("FileStat(%q): %v", p, err)
	}
	return fi
}

func (b *bundle) list(prefix string) []workspace.FileInfo {
	b.t.Helper()
	fis, err := b.s.FileList(b.ctx, prefix)
	if err != nil {
		b.t.Fatalf("FileList(%q): %v", prefix, err)
	}
	return fis
}

func (b *bundle) del(p string) {
	b.t.Helper()
	if err := b.s.FileDelete(b.ctx, p); err != nil {
		b.t.Fatalf("FileDelete(%q): %v", p, err)
	}
}

// wantErr fails unless err matches target.
func (b *bundle) wantErr(what string, err, target error) {
	b.t.Helper()
	if !errors.Is(err, target) {
		b.t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// entry is the comparable part of a [workspace.FileInfo]; a directory's
// size is not compared.
type entry struct {
	Path  string
	IsDir bool
	Size  int64
}

func file(p string, size int) entry { return entry{Path: p, Size: int64(size)} }
func dir(p string) entry            { return entry{Path: p, IsDir: true} }

// wantList checks a listing against want, in order, and the fields want
// does not spell out: names, times and directory sizes.
func (b *bundle) wantList(prefix string, want ...entry) {
	b.t.Helper()
	fis := b.list(prefix)
	got := make([]entry, len(fis))
	for i, fi := range fis {
		got[i] = entry{Path: fi.Path, IsDir: fi.IsDir, Size: fi.Size}
		if fi.IsDir {
			got[i].Size = 0
		}
		b.checkInfo(fi)
	}
	if want == nil {
		want = []entry{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		b.t.Errorf("FileList(%q) mismatch (-want +got):\n%s", prefix, diff)
	}
}

// checkInfo checks the fields of fi that follow from its path and kind.
func (b *bundle) checkInfo(fi workspace.FileInfo) {
	b.t.Helper()
	if fi.Name != path.Base(fi.Path) {
		b.t.Errorf("%s: Name %q, want %q", fi.Path, fi.Name, path.Base(fi.Path))
	}
	if fi.IsDir {
		if fi.Size != 0 {
			b.t.Errorf("%s: directory Size %d, want 0", fi.Path, fi.Size)
		}
		return
	}
	if fi.ModifiedAt.Location() != time.UTC {
		b.t.Errorf("%s: ModifiedAt %v is not in UTC", fi.Path, fi.ModifiedAt)
	}
	// Generous bounds: file-system clocks are coarse and an object
	// store's clock is not ours.
	lo, hi := b.start.Add(-time.Minute), time.Now().Add(time.Minute)
	if fi.ModifiedAt.Before(lo) || fi.ModifiedAt.After(hi) {
		b.t.Errorf("%s: ModifiedAt %v outside [%v, %v]", fi.Path, fi.ModifiedAt, lo, hi)
	}
}
