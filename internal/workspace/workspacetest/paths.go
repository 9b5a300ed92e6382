package workspacetest

import (
	"context"
	"errors"

	"github.com/omniserve/omniserve/internal/workspace"
)

// op is one store method applied to a path.
type op struct {
	name string
	call func(ctx context.Context, s workspace.Store, p string) error
}

var ops = []op{
	{"FileWrite", func(ctx context.Context, s workspace.Store, p string) error {
		return s.FileWrite(ctx, p, []byte("pwned"))
	}},
	{"FileAppend", func(ctx context.Context, s workspace.Store, p string) error {
		return s.FileAppend(ctx, p, []byte("pwned\n"))
	}},
	{"FileRead", func(ctx context.Context, s workspace.Store, p string) error {
		_, err := s.FileRead(ctx, p, 0)
		return err
	}},
	{"FileStat", func(ctx context.Context, s workspace.Store, p string) error {
		_, err := s.FileStat(ctx, p)
		return err
	}},
	{"FileList", func(ctx context.Context, s workspace.Store, p string) error {
		_, err := s.FileList(ctx, p)
		return err
	}},
	{"FileDelete", func(ctx context.Context, s workspace.Store, p string) error {
		return s.FileDelete(ctx, p)
	}},
}

func testInvalidPaths(b *bundle) {
	t := b.t
	b.write("a/b", "existing")
	for _, p := range InvalidPaths() {
		for _, o := range ops {
			if o.name == "FileList" && p == "" {
				continue // the root
			}
			err := o.call(b.ctx, b.s, p)
			if !errors.Is(err, workspace.ErrInvalidPath) {
				t.Errorf("%s(%q): got error %v, want ErrInvalidPath", o.name, p, err)
			}
		}
	}
	if got := b.read("a/b"); got != "existing" {
		t.Errorf("a/b = %q after hostile calls", got)
	}
	b.wantList("", dir("a"), file("a/b", 8))
}

func testCancelledContext(b *bundle) {
	t := b.t
	b.write("f", "kept")
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	for _, o := range ops {
		for _, p := range []string{"f", "new/file"} {
			err := o.call(ctx, b.s, p)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s(%q) with a cancelled context: got error %v, want context.Canceled", o.name, p, err)
			}
		}
	}
	if _, err := b.s.FileList(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("FileList of the root with a cancelled context: got error %v, want context.Canceled", err)
	}
	if got := b.read("f"); got != "kept" {
		t.Errorf("f = %q after cancelled calls", got)
	}
	b.wantList("", file("f", 4))
}
