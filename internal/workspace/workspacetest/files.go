package workspacetest

import (
	"bytes"
	"strings"

	"github.com/omniserve/omniserve/internal/workspace"
)

func testWriteRead(b *bundle) {
	t := b.t
	b.write("hello.txt", "hello, workspace\n")
	if got, want := b.read("hello.txt"), "hello, workspace\n"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
	fi := b.stat("hello.txt")
	if fi.Path != "hello.txt" || fi.IsDir || fi.Size != 17 {
		t.Errorf("stat = %+v, want file hello.txt of 17 bytes", fi)
	}
	b.checkInfo(fi)
}

func testWriteCreatesParents(b *bundle) {
	t := b.t
	b.write("a/b/c/d.txt", "deep")
	if got := b.read("a/b/c/d.txt"); got != "deep" {
		t.Errorf("read %q, want %q", got, "deep")
	}
	for _, p := range []string{"a", "a/b", "a/b/c"} {
		if fi := b.stat(p); !fi.IsDir || fi.Path != p {
			t.Errorf("stat %s = %+v, want a directory", p, fi)
		}
	}
	b.wantList("", dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/d.txt", 4))
}

func testOverwrite(b *bundle) {
	t := b.t
	b.write("run.json", strings.Repeat("long content ", 100))
	b.write("run.json", "short")
	if got := b.read("run.json"); got != "short" {
		t.Errorf("after overwrite read %q, want %q", got, "short")
	}
	if fi := b.stat("run.json"); fi.Size != 5 {
		t.Errorf("after overwrite size %d, want 5", fi.Size)
	}
	b.write("run.json", "")
	if got := b.read("run.json"); got != "" {
		t.Errorf("after emptying read %q, want empty", got)
	}
	b.wantList("", file("run.json", 0))
}

func testEmptyFile(b *bundle) {
	t := b.t
	if err := b.s.FileWrite(b.ctx, "empty", nil); err != nil {
		t.Fatalf("FileWrite(nil): %v", err)
	}
	data, err := b.s.FileRead(b.ctx, "empty", 0)
	if err != nil || len(data) != 0 {
		t.Errorf("read = %q, %v; want empty", data, err)
	}
	if fi := b.stat("empty"); fi.IsDir || fi.Size != 0 {
		t.Errorf("stat = %+v, want an empty file", fi)
	}
}

func testLargeBinary(b *bundle) {
	t := b.t
	data := make([]byte, 1<<20+7)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	if err := b.s.FileWrite(b.ctx, "artifacts/blob.bin", data); err != nil {
		t.Fatalf("FileWrite: %v", err)
	}
	got, err := b.s.FileRead(b.ctx, "artifacts/blob.bin", 0)
	if err != nil {
		t.Fatalf("FileRead: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	if fi := b.stat("artifacts/blob.bin"); fi.Size != int64(len(data)) {
		t.Errorf("size %d, want %d", fi.Size, len(data))
	}
}

func testDataIsCopied(b *bundle) {
	t := b.t
	data := []byte("original")
	if err := b.s.FileWrite(b.ctx, "f", data); err != nil {
		t.Fatalf("FileWrite: %v", err)
	}
	copy(data, "XXXXXXXX")
	got, err := b.s.FileRead(b.ctx, "f", 0)
	if err != nil || string(got) != "original" {
		t.Fatalf("read %q, %v after changing the written slice; want %q", got, err, "original")
	}
	copy(got, "YYYYYYYY")
	if again := b.read("f"); again != "original" {
		t.Errorf("read %q after changing a read slice; want %q", again, "original")
	}
	line := []byte("line\n")
	if err := b.s.FileAppend(b.ctx, "g", line); err != nil {
		t.Fatalf("FileAppend: %v", err)
	}
	copy(line, "XXXX")
	if got := b.read("g"); got != "line\n" {
		t.Errorf("read %q after changing the appended slice; want %q", got, "line\n")
	}
}

func testUnicodeNames(b *bundle) {
	t := b.t
	names := []string{"notes/Résumé draft.md", "日本/ファイル.txt", "emoji/🚀 launch.md", "spaces in/a b.txt"}
	for _, p := range names {
		b.write(p, p)
	}
	for _, p := range names {
		if got := b.read(p); got != p {
			t.Errorf("read %q = %q", p, got)
		}
	}
	b.wantList("",
		dir("emoji"), file("emoji/🚀 launch.md", len("emoji/🚀 launch.md")),
		dir("notes"), file("notes/Résumé draft.md", len("notes/Résumé draft.md")),
		dir("spaces in"), file("spaces in/a b.txt", len("spaces in/a b.txt")),
		dir("日本"), file("日本/ファイル.txt", len("日本/ファイル.txt")),
	)
}

// testEquivalentSpellings checks that the spellings CleanPath collapses
// ("a//b", "./a", "a/") all name the one file.
func testEquivalentSpellings(b *bundle) {
	t := b.t
	b.write("a//b.txt", "one")
	if got := b.read("./a/b.txt"); got != "one" {
		t.Errorf(`read "./a/b.txt" = %q, want "one"`, got)
	}
	b.append("a/./b.txt", "+two")
	if got := b.read("a/b.txt/"); got != "one+two" {
		t.Errorf(`read "a/b.txt/" = %q, want "one+two"`, got)
	}
	if fi := b.stat("a///b.txt"); fi.Path != "a/b.txt" {
		t.Errorf("stat reports path %q, want the clean %q", fi.Path, "a/b.txt")
	}
	b.wantList("./a/", file("a/b.txt", 7))
	b.del("./a//b.txt")
	b.wantList("")
}

func testAppend(b *bundle) {
	t := b.t
	ns := "background/agent/task/run_1/"
	b.append(ns+workspace.EventsJSONL, `{"sequence":1}`+"\n")
	b.append(ns+workspace.EventsJSONL, `{"sequence":2}`+"\n")
	b.append(ns+workspace.EventsJSONL, `{"sequence":3}`+"\n")
	want := "{\"sequence\":1}\n{\"sequence\":2}\n{\"sequence\":3}\n"
	if got := b.read(ns + workspace.EventsJSONL); got != want {
		t.Errorf("read %q, want %q", got, want)
	}
	if fi := b.stat(ns + workspace.EventsJSONL); fi.Size != int64(len(want)) {
		t.Errorf("size %d, want %d", fi.Size, len(want))
	}
	b.write("log", "written\n")
	b.append("log", "appended\n")
	if err := b.s.FileAppend(b.ctx, "log", nil); err != nil {
		t.Errorf("FileAppend(nil): %v", err)
	}
	if got := b.read("log"); got != "written\nappended\n" {
		t.Errorf("append after write: read %q", got)
	}
}

func testReadSizeCap(b *bundle) {
	t := b.t
	b.write("f", strings.Repeat("x", 1000))
	for _, tc := range []struct {
		max     int64
		tooLong bool
	}{
		{0, false},
		{-1, false},
		{1000, false},
		{1001, false},
		{999, true},
		{1, true},
	} {
		data, err := b.s.FileRead(b.ctx, "f", tc.max)
		switch {
		case tc.tooLong:
			b.wantErr("read 1000 bytes with a smaller cap", err, workspace.ErrTooLarge)
			if data != nil {
				t.Errorf("FileRead(max %d) returned %d bytes with ErrTooLarge", tc.max, len(data))
			}
		case err != nil || len(data) != 1000:
			t.Errorf("FileRead(max %d) = %d bytes, %v; want 1000 bytes", tc.max, len(data), err)
		}
	}
}

func testStat(b *bundle) {
	t := b.t
	b.write("dir/sub/f.txt", "12345")
	fi := b.stat("dir/sub/f.txt")
	if fi.Path != "dir/sub/f.txt" || fi.Name != "f.txt" || fi.IsDir || fi.Size != 5 {
		t.Errorf("stat file = %+v", fi)
	}
	b.checkInfo(fi)
	for _, p := range []string{"dir", "dir/sub"} {
		fi := b.stat(p)
		if fi.Path != p || !fi.IsDir || fi.Size != 0 {
			t.Errorf("stat %s = %+v, want a directory", p, fi)
		}
		b.checkInfo(fi)
	}
}

func testNotFound(b *bundle) {
	b.write("present/file.txt", "x")
	for _, p := range []string{"missing", "missing/deeper/file", "present/other", "present/file.txt/below"} {
		_, err := b.s.FileRead(b.ctx, p, 0)
		b.wantErr("read "+p, err, workspace.ErrNotFound)
		_, err = b.s.FileStat(b.ctx, p)
		b.wantErr("stat "+p, err, workspace.ErrNotFound)
		b.wantErr("delete "+p, b.s.FileDelete(b.ctx, p), workspace.ErrNotFound)
	}
	b.wantList("", dir("present"), file("present/file.txt", 1))
}

func testConflicts(b *bundle) {
	t := b.t
	b.write("file.txt", "file")
	b.write("dir/inner.txt", "inner")
	b.wantErr("write beneath a file", b.s.FileWrite(b.ctx, "file.txt/x", []byte("x")), workspace.ErrConflict)
	b.wantErr("write deep beneath a file", b.s.FileWrite(b.ctx, "file.txt/x/y", []byte("x")), workspace.ErrConflict)
	b.wantErr("append beneath a file", b.s.FileAppend(b.ctx, "file.txt/x", []byte("x")), workspace.ErrConflict)
	b.wantErr("write over a directory", b.s.FileWrite(b.ctx, "dir", []byte("x")), workspace.ErrConflict)
	b.wantErr("append to a directory", b.s.FileAppend(b.ctx, "dir", []byte("x")), workspace.ErrConflict)
	_, err := b.s.FileRead(b.ctx, "dir", 0)
	b.wantErr("read a directory", err, workspace.ErrConflict)
	if got := b.read("file.txt"); got != "file" {
		t.Errorf("file.txt = %q after refused writes", got)
	}
	b.wantList("", dir("dir"), file("dir/inner.txt", 5), file("file.txt", 4))
}

func testDeleteFile(b *bundle) {
	t := b.t
	b.write("x/y/z.txt", "z")
	b.write("x/keep.txt", "keep")
	b.del("x/y/z.txt")
	_, err := b.s.FileRead(b.ctx, "x/y/z.txt", 0)
	b.wantErr("read deleted file", err, workspace.ErrNotFound)
	_, err = b.s.FileStat(b.ctx, "x/y")
	b.wantErr("stat directory emptied by delete", err, workspace.ErrNotFound)
	b.wantList("", dir("x"), file("x/keep.txt", 4))
	b.wantErr("delete again", b.s.FileDelete(b.ctx, "x/y/z.txt"), workspace.ErrNotFound)
	b.del("x/keep.txt")
	b.wantList("")
	// The path is free for a file again, and for a directory.
	b.write("x", "now a file")
	if got := b.read("x"); got != "now a file" {
		t.Errorf("read %q", got)
	}
}

func testDeleteDirectory(b *bundle) {
	b.write("b/c.txt", "c")
	b.write("b/d/e.txt", "e")
	b.write("b.txt", "sibling")
	b.write("bb/x.txt", "sibling")
	b.write("b-x/y.txt", "sibling")
	b.del("b")
	for _, p := range []string{"b", "b/c.txt", "b/d", "b/d/e.txt"} {
		_, err := b.s.FileStat(b.ctx, p)
		b.wantErr("stat after deleting b: "+p, err, workspace.ErrNotFound)
	}
	b.wantList("", dir("b-x"), file("b-x/y.txt", 7), file("b.txt", 7), dir("bb"), file("bb/x.txt", 7))
	b.wantErr("delete deleted directory", b.s.FileDelete(b.ctx, "b"), workspace.ErrNotFound)
}
