//go:build unix

package localfs

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/omniserve/omniserve/internal/workspace"
)

// TestFIFORefusedWithoutBlocking plants a named pipe, as a shell tool
// working in the workspace could, and checks that reads and appends refuse
// it instead of waiting for a writer or reader that never comes.
func TestFIFORefusedWithoutBlocking(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir())
	if err := syscall.Mkfifo(filepath.Join(s.Dir(), "pipe"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx := t.Context()
	if _, err := s.FileRead(ctx, "pipe", 0); !errors.Is(err, workspace.ErrConflict) {
		t.Errorf("FileRead(pipe): got %v, want ErrConflict", err)
	}
	if err := s.FileAppend(ctx, "pipe", []byte("x")); !errors.Is(err, workspace.ErrConflict) {
		t.Errorf("FileAppend(pipe): got %v, want ErrConflict", err)
	}
	if _, err := s.FileStat(ctx, "pipe"); !errors.Is(err, workspace.ErrConflict) {
		t.Errorf("FileStat(pipe): got %v, want ErrConflict", err)
	}
	fis, err := s.FileList(ctx, "")
	if err != nil || len(fis) != 0 {
		t.Errorf("FileList = %v, %v; want the pipe skipped", fis, err)
	}
	// Nor does a write replace it.
	if err := s.FileWrite(ctx, "pipe", []byte("x")); !errors.Is(err, workspace.ErrConflict) {
		t.Errorf("FileWrite(pipe): got %v, want ErrConflict", err)
	}
}
