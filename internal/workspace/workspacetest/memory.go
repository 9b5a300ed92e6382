package workspacetest

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/workspace"
)

// Memory is an in-memory [workspace.Store] for tests of the packages that
// use a workspace. It keeps directories implicit, as object stores do,
// and passes [Run]. The zero value is not usable; call [NewMemory].
type Memory struct {
	// NowFunc returns the time files are stamped with. Defaults to
	// time.Now. Set it before first use.
	NowFunc func() time.Time

	mu    sync.Mutex
	files map[string]memFile
}

type memFile struct {
	data       []byte
	modifiedAt time.Time
}

var _ workspace.Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{files: map[string]memFile{}} }

func (m *Memory) now() time.Time {
	if m.NowFunc != nil {
		return m.NowFunc().UTC()
	}
	return time.Now().UTC()
}

// clean checks ctx and cleans p for operation op.
func clean(ctx context.Context, op, p string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	c, err := workspace.CleanPath(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return c, nil
}

// isDir reports whether a file lies beneath p. Callers hold m.mu.
func (m *Memory) isDir(p string) bool {
	for name := range m.files {
		if strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// checkWritable refuses a write or append to a directory or beneath a
// file. Callers hold m.mu.
func (m *Memory) checkWritable(op, p string) error {
	if m.isDir(p) {
		return fmt.Errorf("%s %s: %w", op, p, workspace.ErrConflict)
	}
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if _, ok := m.files[dir]; ok {
			return fmt.Errorf("%s %s: %w", op, p, workspace.ErrConflict)
		}
	}
	return nil
}

// FileWrite implements [workspace.Store].
func (m *Memory) FileWrite(ctx context.Context, p string, data []byte) error {
	p, err := clean(ctx, "write", p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkWritable("write", p); err != nil {
		return err
	}
	m.files[p] = memFile{data: slices.Clone(data), modifiedAt: m.now()}
	return nil
}

// FileAppend implements [workspace.Store].
func (m *Memory) FileAppend(ctx context.Context, p string, data []byte) error {
	p, err := clean(ctx, "append", p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkWritable("append", p); err != nil {
		return err
	}
	f := m.files[p]
	m.files[p] = memFile{data: append(slices.Clip(f.data), data...), modifiedAt: m.now()}
	return nil
}

// FileRead implements [workspace.Store].
func (m *Memory) FileRead(ctx context.Context, p string, maxBytes int64) ([]byte, error) {
	p, err := clean(ctx, "read", p)
	if err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		maxBytes = workspace.DefaultMaxReadBytes
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[p]
	switch {
	case !ok && m.isDir(p):
		return nil, fmt.Errorf("read %s: %w", p, workspace.ErrConflict)
	case !ok:
		return nil, fmt.Errorf("read %s: %w", p, workspace.ErrNotFound)
	case int64(len(f.data)) > maxBytes:
		return nil, fmt.Errorf("read %s: %w: %d bytes, limit %d", p, workspace.ErrTooLarge, len(f.data), maxBytes)
	}
	if f.data == nil {
		return []byte{}, nil
	}
	return slices.Clone(f.data), nil
}

// FileStat implements [workspace.Store].
func (m *Memory) FileStat(ctx context.Context, p string) (workspace.FileInfo, error) {
	p, err := clean(ctx, "stat", p)
	if err != nil {
		return workspace.FileInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.files[p]; ok {
		return fileInfo(p, f), nil
	}
	dir, found := workspace.FileInfo{Path: p, Name: path.Base(p), IsDir: true}, false
	for name, f := range m.files {
		if strings.HasPrefix(name, p+"/") {
			found = true
			if f.modifiedAt.After(dir.ModifiedAt) {
				dir.ModifiedAt = f.modifiedAt
			}
		}
	}
	if found {
		return dir, nil
	}
	return workspace.FileInfo{}, fmt.Errorf("stat %s: %w", p, workspace.ErrNotFound)
}

// FileList implements [workspace.Store].
func (m *Memory) FileList(ctx context.Context, prefix string) ([]workspace.FileInfo, error) {
	if prefix != "" {
		var err error
		if prefix, err = clean(ctx, "list", prefix); err != nil {
			return nil, err
		}
	} else if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []workspace.FileInfo{}
	for _, fi := range m.list() {
		if prefix == "" || strings.HasPrefix(fi.Path, prefix+"/") {
			out = append(out, fi)
		}
	}
	return out, nil
}

// list returns every file and directory of the store, sorted, with each
// directory stamped with the latest time beneath it. Callers hold m.mu.
func (m *Memory) list() []workspace.FileInfo {
	dirs := map[string]time.Time{}
	out := make([]workspace.FileInfo, 0, len(m.files))
	for name, f := range m.files {
		out = append(out, fileInfo(name, f))
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if f.modifiedAt.After(dirs[dir]) {
				dirs[dir] = f.modifiedAt
			}
		}
	}
	for dir, at := range dirs {
		out = append(out, workspace.FileInfo{Path: dir, Name: path.Base(dir), ModifiedAt: at, IsDir: true})
	}
	slices.SortFunc(out, func(a, b workspace.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// FileDelete implements [workspace.Store].
func (m *Memory) FileDelete(ctx context.Context, p string) error {
	p, err := clean(ctx, "delete", p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; ok {
		delete(m.files, p)
		return nil
	}
	found := false
	for name := range m.files {
		if strings.HasPrefix(name, p+"/") {
			delete(m.files, name)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("delete %s: %w", p, workspace.ErrNotFound)
	}
	return nil
}

func fileInfo(p string, f memFile) workspace.FileInfo {
	return workspace.FileInfo{
		Path:       p,
		Name:       path.Base(p),
		ModifiedAt: f.modifiedAt,
		Size:       int64(len(f.data)),
	}
}
