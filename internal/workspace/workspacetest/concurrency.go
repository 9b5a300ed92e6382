package workspacetest

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// lineOf returns line i of appender g; lengths differ per appender so a
// torn or merged line cannot pass for a whole one.
func lineOf(g, i int) string {
	pad := bytes.Repeat([]byte{byte('a' + g)}, 40+g*53)
	return fmt.Sprintf(`{"g":%d,"i":%d,"pad":"%s"}`+"\n", g, i, pad)
}

func testConcurrentAppends(b *bundle) {
	t := b.t
	const appenders, lines = 8, 100
	p := "background/a/t/r/events.jsonl"
	var wg sync.WaitGroup
	errs := make(chan error, appenders*lines)
	for g := range appenders {
		wg.Go(func() {
			for i := range lines {
				if err := b.s.FileAppend(b.ctx, p, []byte(lineOf(g, i))); err != nil {
					errs <- fmt.Errorf("appender %d line %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := b.read(p)
	if !strings.HasSuffix(got, "\n") {
		t.Fatalf("file does not end with a newline")
	}
	next := make([]int, appenders) // next line expected from each appender
	all := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	for n, line := range all {
		var g, i int
		if _, err := fmt.Sscanf(line, `{"g":%d,"i":%d,`, &g, &i); err != nil || g < 0 || g >= appenders {
			t.Fatalf("line %d is torn: %.80q", n, line)
		}
		if line+"\n" != lineOf(g, i) {
			t.Fatalf("line %d is torn: %.80q", n, line)
		}
		if i != next[g] {
			t.Fatalf("line %d: appender %d line %d, want its line %d (out of order)", n, g, i, next[g])
		}
		next[g]++
	}
	if len(all) != appenders*lines {
		t.Errorf("%d lines, want %d", len(all), appenders*lines)
	}
}

func testAtomicOverwrite(b *bundle) {
	t := b.t
	const versions, rounds, readers = 8, 10, 4
	// Version v is 16 KiB + v KiB of the byte 'a'+v, so a reader can tell
	// a whole version from a torn, mixed or truncated one.
	content := func(v int) []byte { return bytes.Repeat([]byte{byte('a' + v)}, (16+v)<<10) }
	p := "run.json"
	if err := b.s.FileWrite(b.ctx, p, content(0)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				data, err := b.s.FileRead(b.ctx, p, 0)
				if err != nil {
					errs <- fmt.Errorf("read during overwrite: %w", err)
					return
				}
				if len(data) == 0 {
					errs <- fmt.Errorf("read an empty file during overwrite")
					return
				}
				if v := int(data[0]) - 'a'; v < 0 || v >= versions || !bytes.Equal(data, content(v)) {
					errs <- fmt.Errorf("read a torn file: %d bytes starting %q", len(data), data[:min(len(data), 8)])
					return
				}
			}
		})
	}
	wg.Go(func() {
		defer close(done)
		for r := range rounds {
			for v := range versions {
				if err := b.s.FileWrite(b.ctx, p, content((v+r)%versions)); err != nil {
					errs <- fmt.Errorf("overwrite: %w", err)
					return
				}
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testConcurrentWriteDelete(b *bundle) {
	t := b.t
	const workers, files = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for i := range files {
				// Every worker writes into and empties the same
				// directories, so one worker's delete may remove a
				// directory another is about to write into.
				p := fmt.Sprintf("shared/dir%d/w%d-%d.txt", i%3, g, i)
				if err := b.s.FileWrite(b.ctx, p, []byte(p)); err != nil {
					errs <- fmt.Errorf("write %s: %w", p, err)
					return
				}
				if err := b.s.FileAppend(b.ctx, p, []byte("+")); err != nil {
					errs <- fmt.Errorf("append %s: %w", p, err)
					return
				}
				data, err := b.s.FileRead(b.ctx, p, 0)
				if err != nil {
					errs <- fmt.Errorf("read %s: %w", p, err)
					return
				}
				if string(data) != p+"+" {
					errs <- fmt.Errorf("read %s = %q, want %q", p, data, p+"+")
					return
				}
				if err := b.s.FileDelete(b.ctx, p); err != nil {
					errs <- fmt.Errorf("delete %s: %w", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b.wantList("")
}
