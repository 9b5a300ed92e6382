package localfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omniserve/omniserve/internal/workspace"
	"github.com/omniserve/omniserve/internal/workspace/workspacetest"
)

func TestWorkspaceContract(t *testing.T) {
	workspacetest.Run(t, func(t *testing.T) workspace.Store {
		return newStore(t, t.TempDir())
	})
}

func newStore(t *testing.T, root string) *Store {
	t.Helper()
	s, err := New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestNew(t *testing.T) {
	t.Parallel()
	t.Run("CreatesFilesDirectory", func(t *testing.T) {
		t.Parallel()
		root := filepath.Join(t.TempDir(), "workspace")
		s := newStore(t, root)
		if want := filepath.Join(root, "files"); s.Dir() != want {
			t.Errorf("Dir() = %q, want %q", s.Dir(), want)
		}
		fi, err := os.Stat(filepath.Join(root, "files"))
		if err != nil || !fi.IsDir() {
			t.Fatalf("files directory: %v, %v", fi, err)
		}
		if perm := fi.Mode().Perm(); perm&^0o750 != 0 {
			t.Errorf("files directory mode %v, want at most 0750", perm)
		}
	})
	t.Run("RelativeRootMadeAbsolute", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, filepath.Join(t.TempDir(), ".", "ws"))
		if !filepath.IsAbs(s.Dir()) {
			t.Errorf("Dir() = %q, want an absolute path", s.Dir())
		}
	})
	t.Run("ReusesExistingDirectory", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		first := newStore(t, root)
		if err := first.FileWrite(t.Context(), "kept.txt", []byte("kept")); err != nil {
			t.Fatal(err)
		}
		second := newStore(t, root)
		data, err := second.FileRead(t.Context(), "kept.txt", 0)
		if err != nil || string(data) != "kept" {
			t.Errorf("reopened store read %q, %v", data, err)
		}
	})
	t.Run("EmptyRoot", func(t *testing.T) {
		t.Parallel()
		if _, err := New(""); err == nil {
			t.Error("New(\"\") succeeded")
		}
	})
	t.Run("FilesIsAFile", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "files"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := New(root); err == nil {
			t.Error("New succeeded with root/files a regular file")
		}
	})
}

func TestFilesLandUnderRootFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	ns, err := workspace.RunNamespace("served", "daily_report", "run_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{workspace.RunJSON, workspace.OutputMD} {
		if err := s.FileWrite(ctx, ns+"/"+name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FileAppend(ctx, ns+"/"+workspace.EventsJSONL, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		workspace.RunJSON:     workspace.RunJSON,
		workspace.OutputMD:    workspace.OutputMD,
		workspace.EventsJSONL: "{}\n",
	} {
		host := filepath.Join(root, "files", "background", "served", "daily_report", "run_1", name)
		got, err := os.ReadFile(host)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", host, got, err, want)
		}
	}
	// Nothing but files/ in the root, and no temporary files left.
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) != 1 || entries[0].Name() != "files" {
		t.Errorf("root holds %v, %v; want only files/", entries, err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	if err := s.FileWrite(ctx, "a/b/written.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.FileAppend(ctx, "c/appended.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The umask can only take bits away, so check an upper bound and that
	// the owner keeps access.
	for _, tc := range []struct {
		path     string
		max, min fs.FileMode
	}{
		{"files/a", 0o750, 0o700},
		{"files/a/b", 0o750, 0o700},
		{"files/c", 0o750, 0o700},
		{"files/a/b/written.txt", 0o640, 0o600},
		{"files/c/appended.txt", 0o640, 0o600},
	} {
		fi, err := os.Stat(filepath.Join(root, tc.path))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&^tc.max != 0 || perm&tc.min != tc.min {
			t.Errorf("%s mode %v, want within %v and at least %v", tc.path, perm, tc.max, tc.min)
		}
	}
}

// TestSymlinkEscapeRefused plants links inside the files directory that
// lead outside it and checks no method follows them.
func TestSymlinkEscapeRefused(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root)
	files := s.Dir()
	relOutside, err := filepath.Rel(files, outside)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"dirlink":     outside,    // absolute, to a directory
		"rel":         relOutside, // relative, climbing out
		"filelink":    secret,     // absolute, to a file
		"nested/deep": outside,    // below a real directory
	}
	if err := os.MkdirAll(filepath.Join(files, "nested"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "nested", "real.txt"), []byte("real"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(files, filepath.FromSlash(name))); err != nil {
			t.Skipf("cannot create symbolic links here: %v", err)
		}
	}
	ctx := t.Context()
	for _, p := range []string{"dirlink/secret", "dirlink/new.txt", "rel/secret", "filelink", "nested/deep/secret", "nested/deep/sub/new.txt"} {
		t.Run(p, func(t *testing.T) {
			if _, err := s.FileRead(ctx, p, 0); !errors.Is(err, workspace.ErrInvalidPath) {
				t.Errorf("FileRead: got %v, want ErrInvalidPath", err)
			}
			if _, err := s.FileStat(ctx, p); !errors.Is(err, workspace.ErrInvalidPath) {
				t.Errorf("FileStat: got %v, want ErrInvalidPath", err)
			}
			if err := s.FileWrite(ctx, p, []byte("pwned")); !errors.Is(err, workspace.ErrInvalidPath) {
				t.Errorf("FileWrite: got %v, want ErrInvalidPath", err)
			}
			if err := s.FileAppend(ctx, p, []byte("pwned")); !errors.Is(err, workspace.ErrInvalidPath) {
				t.Errorf("FileAppend: got %v, want ErrInvalidPath", err)
			}
			if p != "filelink" {
				if err := s.FileDelete(ctx, p); !errors.Is(err, workspace.ErrInvalidPath) {
					t.Errorf("FileDelete: got %v, want ErrInvalidPath", err)
				}
			}
		})
	}
	for _, prefix := range []string{"dirlink", "rel", "nested/deep"} {
		if fis, err := s.FileList(ctx, prefix); !errors.Is(err, workspace.ErrInvalidPath) {
			t.Errorf("FileList(%q) = %v, %v; want ErrInvalidPath", prefix, fis, err)
		}
	}
	// Listings skip links rather than follow them.
	fis, err := s.FileList(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fi := range fis {
		got = append(got, fi.Path)
	}
	if strings.Join(got, ",") != "nested,nested/real.txt" {
		t.Errorf("FileList(\"\") = %v, want only nested and nested/real.txt", got)
	}
	// Outside is untouched.
	if data, err := os.ReadFile(secret); err != nil || string(data) != "secret" {
		t.Errorf("secret = %q, %v", data, err)
	}
	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 1 {
		t.Errorf("outside holds %v, %v; want only the secret", entries, err)
	}
	// Deleting a link removes the link, not its target.
	if err := s.FileDelete(ctx, "filelink"); err != nil {
		t.Errorf("FileDelete(filelink): %v", err)
	}
	if _, err := os.Lstat(filepath.Join(files, "filelink")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link still there: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("link target removed: %v", err)
	}
}

func TestSymlinkInsideFollowed(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir())
	ctx := t.Context()
	if err := s.FileWrite(ctx, "real/target.txt", []byte("target")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("real", "target.txt"), filepath.Join(s.Dir(), "alias")); err != nil {
		t.Skipf("cannot create symbolic links here: %v", err)
	}
	data, err := s.FileRead(ctx, "alias", 0)
	if err != nil || string(data) != "target" {
		t.Errorf("read through an inside link = %q, %v", data, err)
	}
}

func TestReservedTempNamesRefused(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir())
	for _, p := range []string{tempPrefix + "x", "a/" + tempPrefix + "1234/b"} {
		if err := s.FileWrite(t.Context(), p, []byte("x")); !errors.Is(err, workspace.ErrInvalidPath) {
			t.Errorf("FileWrite(%q): got %v, want ErrInvalidPath", p, err)
		}
	}
}

func TestTempFilesHiddenFromListings(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir())
	if err := s.FileWrite(t.Context(), "d/f.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// As a crashed write would leave it.
	if err := os.WriteFile(filepath.Join(s.Dir(), "d", tempPrefix+"crashed"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "only-temp"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "only-temp", tempPrefix+"x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fis, err := s.FileList(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(fis) != 2 || fis[0].Path != "d" || fis[1].Path != "d/f.txt" {
		t.Errorf("FileList = %+v, want d and d/f.txt", fis)
	}
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.FileWrite(t.Context(), "f", []byte("x")); err == nil {
		t.Error("FileWrite succeeded on a closed store")
	}
	if _, err := s.FileRead(t.Context(), "f", 0); err == nil {
		t.Error("FileRead succeeded on a closed store")
	}
}

// FuzzPath checks that whatever path a caller supplies, a write either is
// refused as an invalid path or lands at its clean path under
// root/files, and nothing appears anywhere else.
func FuzzPath(f *testing.F) {
	for _, p := range workspacetest.InvalidPaths() {
		f.Add(p)
	}
	for _, p := range []string{"a", "a/b/c.txt", "a//b", "./x/", "background/a/t/r/output.md", "日本/ファイル", "...", "..a/b.."} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		root := t.TempDir()
		s, err := New(root)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.FileWrite(t.Context(), p, []byte("fuzz"))
		clean, cerr := workspace.CleanPath(p)
		switch {
		case errors.Is(err, workspace.ErrInvalidPath):
			if cerr == nil && !strings.Contains(clean, tempPrefix) {
				t.Fatalf("FileWrite(%q) refused a path CleanPath accepts: %v", p, err)
			}
		case err != nil:
			t.Fatalf("FileWrite(%q): %v", p, err)
		case cerr != nil:
			t.Fatalf("FileWrite(%q) accepted a path CleanPath refuses: %v", p, cerr)
		default:
			want := filepath.Join(root, FilesDir, filepath.FromSlash(clean))
			if data, err := os.ReadFile(want); err != nil || string(data) != "fuzz" {
				t.Fatalf("FileWrite(%q) did not land at %s: %q, %v", p, want, data, err)
			}
		}
		err = filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(filepath.Join(root, FilesDir), name)
			if name != root && (err != nil || !filepath.IsLocal(rel) && rel != ".") {
				t.Errorf("%s is outside the files directory", name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
