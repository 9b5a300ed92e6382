package apidocs

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestEmbeddedLicenceTexts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file string
		want string
	}{
		{"swagger-ui-dist.LICENSE", "Apache License"},
		{"swagger-ui-dist.NOTICE", "SmartBear"},
		{"swagger-ui-bundle.js.LICENSE.txt", "@license"},
		{"redoc.LICENSE", "The MIT License"},
	}
	for _, tt := range tests {
		b, err := assetFS.ReadFile("assets/" + tt.file)
		if err != nil {
			t.Errorf("read %s: %v", tt.file, err)
			continue
		}
		if !strings.Contains(string(b), tt.want) {
			t.Errorf("%s does not contain %q", tt.file, tt.want)
		}
	}
}

// TestEmbeddedFiles guards the binary's size: only the files the pages
// need, no source maps or extra bundles.
func TestEmbeddedFiles(t *testing.T) {
	t.Parallel()

	const budget = 3_200_000
	var total int64
	err := fs.WalkDir(assetFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		if path.Ext(p) == ".map" {
			t.Errorf("source map %s is embedded", p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk embedded files: %v", err)
	}
	if total > budget {
		t.Errorf("embedded assets total %d bytes, want at most %d", total, budget)
	}
}

// TestAssetsREADME checks the README names the pinned versions of the
// update script, so the two cannot drift apart unnoticed.
func TestAssetsREADME(t *testing.T) {
	t.Parallel()

	b, err := assetFS.ReadFile("assets/README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	readme := string(b)
	for _, re := range []string{`swagger-ui-dist@5\.\d+\.\d+`, `redoc@2\.5\.\d+`, `scripts/update-docs-assets\.sh`} {
		if !regexp.MustCompile(re).MatchString(readme) {
			t.Errorf("README does not match %s:\n%s", re, readme)
		}
	}
}
