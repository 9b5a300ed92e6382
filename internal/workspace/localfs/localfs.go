// Package localfs is the local-directory [workspace.Store]: the files of
// a workspace live under <root>/files/, as OMNICOREAGENT_WORKSPACE_DIR
// lays them out.
//
// Every operation goes through an [os.Root] opened on the files
// directory, so no path, and no symbolic link met on the way, can reach
// outside it; a symbolic link that tries is refused with
// [workspace.ErrInvalidPath]. Links that stay inside are followed, except
// by listings, which skip them, and by deletes, which remove the link.
//
// Writes go to a temporary file in the target's directory, synced, then
// renamed over the target, so readers never see a partial file. Appends
// open the file with O_APPEND and write each call's data in one write,
// serialised per path within the process (not across processes).
// Directories are created 0o750 and files 0o640, less the process umask.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/omniserve/omniserve/internal/workspace"
)

// FilesDir is the directory under the root that holds the workspace's
// files area.
const FilesDir = "files"

const (
	dirPerm  fs.FileMode = 0o750
	filePerm fs.FileMode = 0o640
	// tempPrefix starts the names of in-flight write files. Listings skip
	// them and paths may not use it.
	tempPrefix = ".omniserve-tmp-"
	// stripes is the number of per-path locks; paths share them by hash.
	stripes = 64
)

// Store is a [workspace.Store] over a local directory. It is safe for
// concurrent use. Close it when done.
type Store struct {
	dir  string
	root *os.Root

	// tree is held shared by writes and appends, which create
	// directories, and exclusively by deletes, which remove emptied
	// ones, so a directory is never removed between its creation and
	// the write that needed it.
	tree sync.RWMutex
	// paths serialises writes and appends to one path.
	paths [stripes]sync.Mutex
}

var _ workspace.Store = (*Store)(nil)

// New returns a store whose files live under root/files, creating that
// directory if needed. root is typically OMNICOREAGENT_WORKSPACE_DIR
// (default ./workspace); a relative root is made absolute once, here.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("localfs: root is required")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("localfs: resolve root: %w", err)
	}
	dir := filepath.Join(abs, FilesDir)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("localfs: create files directory: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("localfs: open files directory: %w", err)
	}
	return &Store{dir: dir, root: r}, nil
}

// Dir returns the absolute path of the files directory, root/files.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory handle. The store is unusable afterwards.
func (s *Store) Close() error { return s.root.Close() }

// clean checks ctx and cleans p for operation op, refusing names reserved
// for temporary files.
func (s *Store) clean(ctx context.Context, op, p string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	c, err := workspace.CleanPath(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	for seg := range strings.SplitSeq(c, "/") {
		if strings.HasPrefix(seg, tempPrefix) {
			return "", fmt.Errorf("%s: %w", op, &workspace.InvalidPathError{Path: p, Reason: "uses a name reserved for temporary files"})
		}
	}
	return c, nil
}

// lock locks and returns the mutex of path p.
func (s *Store) lock(p string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = io.WriteString(h, p)
	mu := &s.paths[h.Sum32()%stripes]
	mu.Lock()
	return mu
}

// mode says how [Store.mapErr] reads "not a directory": a write meets a
// file where it needs a directory (a conflict), a read just finds
// nothing.
type mode bool

const (
	forRead  mode = false
	forWrite mode = true
)

// mapErr translates an error of operation op on p into the workspace
// sentinels, keeping host paths out of the sentinel cases.
func (s *Store) mapErr(op, p string, m mode, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: %w", op, p, workspace.ErrNotFound)
	case errors.Is(err, syscall.ENOTDIR) && m == forWrite:
		return fmt.Errorf("%s %s: %w", op, p, workspace.ErrConflict)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s %s: %w", op, p, workspace.ErrNotFound)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%s %s: %w", op, p, workspace.ErrConflict)
	case s.refusedLink(p):
		return fmt.Errorf("%s: %w", op, &workspace.InvalidPathError{Path: p, Reason: "goes through a symbolic link that leaves the workspace"})
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

// refusedLink reports whether p, or one of its parents, is a symbolic
// link the root refuses to follow: one leading outside, an absolute one,
// or a loop. [os.Root] enforces the refusal; this only names it.
func (s *Store) refusedLink(p string) bool {
	segs := strings.Split(p, "/")
	for i := range segs {
		q := strings.Join(segs[:i+1], "/")
		fi, err := s.root.Lstat(q)
		if err != nil {
			return false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if _, err := s.root.Stat(q); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return true
		}
	}
	return false
}

// prepare checks that p may be written as a regular file and creates its
// parent directories.
func (s *Store) prepare(op, p string) error {
	fi, err := s.root.Stat(p)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s %s: %w", op, p, workspace.ErrConflict)
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("%s %s: %w: not a regular file", op, p, workspace.ErrConflict)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return s.mapErr(op, p, forWrite, err)
	}
	if dir := path.Dir(p); dir != "." {
		if err := s.root.MkdirAll(dir, dirPerm); err != nil {
			if errors.Is(err, fs.ErrExist) {
				// A parent is a file.
				return fmt.Errorf("%s %s: %w", op, p, workspace.ErrConflict)
			}
			return s.mapErr(op, p, forWrite, err)
		}
	}
	return nil
}

// FileWrite implements [workspace.Store]: the data goes to a synced
// temporary file in the target's directory, then renamed over the target.
func (s *Store) FileWrite(ctx context.Context, p string, data []byte) error {
	p, err := s.clean(ctx, "write", p)
	if err != nil {
		return err
	}
	s.tree.RLock()
	defer s.tree.RUnlock()
	defer s.lock(p).Unlock()
	if err := s.prepare("write", p); err != nil {
		return err
	}
	tmp := path.Join(path.Dir(p), tempPrefix+randomHex())
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return s.mapErr("write", p, forWrite, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		_ = s.root.Remove(tmp)
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := s.root.Rename(tmp, p); err != nil {
		_ = s.root.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			// A directory appeared at p since prepare.
			return fmt.Errorf("write %s: %w", p, workspace.ErrConflict)
		}
		return s.mapErr("write", p, forWrite, err)
	}
	return nil
}

// FileAppend implements [workspace.Store]: one O_APPEND write per call,
// under the path's lock.
func (s *Store) FileAppend(ctx context.Context, p string, data []byte) error {
	p, err := s.clean(ctx, "append", p)
	if err != nil {
		return err
	}
	s.tree.RLock()
	defer s.tree.RUnlock()
	defer s.lock(p).Unlock()
	if err := s.prepare("append", p); err != nil {
		return err
	}
	f, err := s.root.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, filePerm)
	if err != nil {
		return s.mapErr("append", p, forWrite, err)
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	return nil
}

// FileRead implements [workspace.Store]. Only regular files are read; a
// FIFO or device under the root is refused without blocking.
func (s *Store) FileRead(ctx context.Context, p string, maxBytes int64) ([]byte, error) {
	p, err := s.clean(ctx, "read", p)
	if err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		maxBytes = workspace.DefaultMaxReadBytes
	}
	f, err := s.root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, s.mapErr("read", p, forRead, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", p, err)
	case fi.IsDir():
		return nil, fmt.Errorf("read %s: %w", p, workspace.ErrConflict)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("read %s: %w: not a regular file", p, workspace.ErrConflict)
	case fi.Size() > maxBytes:
		return nil, fmt.Errorf("read %s: %w: %d bytes, limit %d", p, workspace.ErrTooLarge, fi.Size(), maxBytes)
	}
	// The file may grow after the stat; read one byte past the cap to
	// notice.
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("read %s: %w: more than %d bytes", p, workspace.ErrTooLarge, maxBytes)
	}
	return data, nil
}

// FileStat implements [workspace.Store]. Special files (FIFOs, devices)
// are [workspace.ErrConflict], as they are to every other method.
func (s *Store) FileStat(ctx context.Context, p string) (workspace.FileInfo, error) {
	p, err := s.clean(ctx, "stat", p)
	if err != nil {
		return workspace.FileInfo{}, err
	}
	fi, err := s.root.Stat(p)
	if err != nil {
		return workspace.FileInfo{}, s.mapErr("stat", p, forRead, err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return workspace.FileInfo{}, fmt.Errorf("stat %s: %w: not a regular file", p, workspace.ErrConflict)
	}
	return info(p, fi), nil
}

// FileList implements [workspace.Store]. It walks the tree without
// following symbolic links and skips them, special files and in-flight
// temporary files.
func (s *Store) FileList(ctx context.Context, prefix string) ([]workspace.FileInfo, error) {
	dir := "."
	if prefix != "" {
		var err error
		if dir, err = s.clean(ctx, "list", prefix); err != nil {
			return nil, err
		}
	} else if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	out := []workspace.FileInfo{}
	fi, err := s.root.Stat(dir)
	switch {
	case err != nil:
		if err := s.mapErr("list", dir, forRead, err); !errors.Is(err, workspace.ErrNotFound) {
			return nil, err
		}
		return out, nil
	case !fi.IsDir():
		return out, nil
	}
	var dirs []workspace.FileInfo
	hasFile := map[string]bool{}
	err = fs.WalkDir(s.root.FS(), dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == dir {
			return nil
		}
		switch {
		case d.IsDir():
		case d.Type().IsRegular() && !strings.HasPrefix(d.Name(), tempPrefix):
		default:
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, info(name, fi))
			return nil
		}
		out = append(out, info(name, fi))
		for d := path.Dir(name); d != dir && d != "."; d = path.Dir(d) {
			if hasFile[d] {
				break
			}
			hasFile[d] = true
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("list: %w", ctx.Err())
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, d := range dirs {
		if hasFile[d.Path] {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b workspace.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// FileDelete implements [workspace.Store]. A symbolic link is removed,
// never its target.
func (s *Store) FileDelete(ctx context.Context, p string) error {
	p, err := s.clean(ctx, "delete", p)
	if err != nil {
		return err
	}
	s.tree.Lock()
	defer s.tree.Unlock()
	fi, err := s.root.Lstat(p)
	if err != nil {
		return s.mapErr("delete", p, forRead, err)
	}
	if fi.IsDir() {
		err = s.root.RemoveAll(p)
	} else {
		err = s.root.Remove(p)
	}
	if err != nil {
		return s.mapErr("delete", p, forRead, err)
	}
	s.prune(path.Dir(p))
	return nil
}

// prune removes dir and its parents while they are empty directories, so
// directories exist only while files lie beneath them. Callers hold
// s.tree exclusively.
func (s *Store) prune(dir string) {
	for ; dir != "."; dir = path.Dir(dir) {
		fi, err := s.root.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return
		}
		// Remove refuses a directory that is not empty.
		if err := s.root.Remove(dir); err != nil {
			return
		}
	}
}

func info(p string, fi fs.FileInfo) workspace.FileInfo {
	out := workspace.FileInfo{
		Path:       p,
		Name:       path.Base(p),
		ModifiedAt: fi.ModTime().UTC(),
		IsDir:      fi.IsDir(),
	}
	if !fi.IsDir() {
		out.Size = fi.Size()
	}
	return out
}

func randomHex() string {
	b := make([]byte, 8)
	// crypto/rand.Read never fails and always fills b.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
