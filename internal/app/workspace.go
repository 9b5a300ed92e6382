package app

import (
	"context"
	"errors"
	"sync"

	"github.com/omniserve/omniserve/internal/workspace"
	"github.com/omniserve/omniserve/internal/workspace/localfs"
)

// lazyWorkspace opens the local workspace on first use, so a server that
// never runs a background task never creates OMNICOREAGENT_WORKSPACE_DIR.
type lazyWorkspace struct {
	root string

	once  sync.Once
	store *localfs.Store
	err   error
}

var _ workspace.Store = (*lazyWorkspace)(nil)

func (w *lazyWorkspace) open() (*localfs.Store, error) {
	w.once.Do(func() { w.store, w.err = localfs.New(w.root) })
	return w.store, w.err
}

func (w *lazyWorkspace) FileWrite(ctx context.Context, path string, data []byte) error {
	s, err := w.open()
	if err != nil {
		return err
	}
	return s.FileWrite(ctx, path, data)
}

func (w *lazyWorkspace) FileAppend(ctx context.Context, path string, data []byte) error {
	s, err := w.open()
	if err != nil {
		return err
	}
	return s.FileAppend(ctx, path, data)
}

func (w *lazyWorkspace) FileRead(ctx context.Context, path string, maxBytes int64) ([]byte, error) {
	s, err := w.open()
	if err != nil {
		return nil, err
	}
	return s.FileRead(ctx, path, maxBytes)
}

func (w *lazyWorkspace) FileStat(ctx context.Context, path string) (workspace.FileInfo, error) {
	s, err := w.open()
	if err != nil {
		return workspace.FileInfo{}, err
	}
	return s.FileStat(ctx, path)
}

func (w *lazyWorkspace) FileList(ctx context.Context, prefix string) ([]workspace.FileInfo, error) {
	s, err := w.open()
	if err != nil {
		return nil, err
	}
	return s.FileList(ctx, prefix)
}

func (w *lazyWorkspace) FileDelete(ctx context.Context, path string) error {
	s, err := w.open()
	if err != nil {
		return err
	}
	return s.FileDelete(ctx, path)
}

// Close closes the store if it was opened.
func (w *lazyWorkspace) Close() error {
	var s *localfs.Store
	w.once.Do(func() { w.err = errors.New("workspace closed") })
	s = w.store
	if s == nil {
		return nil
	}
	return s.Close()
}
