package workspace

import (
	"context"
	"errors"
	"time"
)

// Sentinels every [Store] returns, so callers branch without knowing the
// backend. Backends translate their own errors into these at the edge.
var (
	// ErrNotFound reports that no file or directory exists at a path.
	ErrNotFound = errors.New("workspace: not found")
	// ErrInvalidPath reports a path [CleanPath] refuses, an id
	// [RunNamespace] refuses, or a path a backend cannot follow safely
	// (such as a symbolic link leading out of the workspace). Path
	// checks return an [*InvalidPathError], which matches it.
	ErrInvalidPath = errors.New("workspace: invalid path")
	// ErrTooLarge reports a file larger than the size a read allows.
	ErrTooLarge = errors.New("workspace: file too large")
	// ErrConflict reports a path whose kind contradicts the operation:
	// writing, appending to or reading a directory, or writing beneath a
	// file.
	ErrConflict = errors.New("workspace: path conflicts with an existing file or directory")
)

// DefaultMaxReadBytes is the size cap of [Store.FileRead] when its
// maxBytes is zero or negative: 32 MiB.
const DefaultMaxReadBytes int64 = 32 << 20

// FileInfo describes one file or directory of a workspace. Its JSON form
// is the entry of the run workspace listing (GET
// /background/runs/{id}/workspace), plus the size.
type FileInfo struct {
	// Path is the entry's clean path relative to the store's root.
	Path string `json:"path"`
	// Name is the last element of Path.
	Name string `json:"name"`
	// ModifiedAt is when the file was last written, in UTC. For a
	// directory it is best effort: the directory's own time where the
	// backend keeps one, else the latest of the files beneath it.
	ModifiedAt time.Time `json:"modified_at"`
	// IsDir reports whether the entry is a directory.
	IsDir bool `json:"is_dir"`
	// Size is the file's length in bytes; zero for a directory.
	Size int64 `json:"size"`
}

// Store keeps the files of a workspace. Every backend runs the contract
// suite in package workspacetest.
//
// Paths are slash-separated, relative to the store's root, and pass
// through [CleanPath] first, so a refused path is an [*InvalidPathError]
// from every method and touches nothing. Directories are implicit: they
// exist while a file lies beneath them.
//
// Every method checks ctx before it does anything and fails with ctx's
// error once it is done. Errors match [ErrNotFound], [ErrInvalidPath],
// [ErrTooLarge] and [ErrConflict]. Implementations are safe for concurrent
// use.
type Store interface {
	// FileWrite creates or replaces the file at path with data, creating
	// its parent directories. The replacement is atomic: a concurrent
	// reader sees the old content or the new, never a mix or a truncated
	// file. Writing to a directory, or beneath a file, is [ErrConflict].
	FileWrite(ctx context.Context, path string, data []byte) error
	// FileAppend appends data to the file at path, creating it and its
	// parent directories if needed. Each call's data lands in one piece:
	// appends from concurrent callers of one store never interleave
	// within a call, so callers that append whole lines (as events.jsonl
	// does) never see a torn line. Appending to a directory, or beneath a
	// file, is [ErrConflict].
	FileAppend(ctx context.Context, path string, data []byte) error
	// FileRead returns the content of the file at path. A file longer
	// than maxBytes is [ErrTooLarge] and no data; zero or negative
	// maxBytes means [DefaultMaxReadBytes]. Reading a directory is
	// [ErrConflict]; a missing file, or one beneath a file, is
	// [ErrNotFound].
	FileRead(ctx context.Context, path string, maxBytes int64) ([]byte, error)
	// FileStat describes the file or directory at path, or returns
	// [ErrNotFound].
	FileStat(ctx context.Context, path string) (FileInfo, error)
	// FileList returns every file and directory beneath the directory
	// prefix, recursively, sorted by Path (byte order); the directory
	// itself is not included. An empty prefix lists the whole store. A
	// prefix with nothing beneath it, missing or naming a file, yields an
	// empty list and no error, as an object store would. Directories
	// appear only while a file lies beneath them.
	FileList(ctx context.Context, prefix string) ([]FileInfo, error)
	// FileDelete deletes the file at path, or the directory at path and
	// everything beneath it. Directories left empty disappear. A missing
	// path is [ErrNotFound].
	FileDelete(ctx context.Context, path string) error
}
