package apidocs

import (
	"io/fs"
	"os"
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

// TestAssetsMatchScript checks the README beside the assets names the
// versions pinned in the update script, so a hand edit of either shows.
func TestAssetsMatchScript(t *testing.T) {
	t.Parallel()

	script, err := os.ReadFile("../../scripts/update-docs-assets.sh")
	if err != nil {
		t.Fatalf("read update script: %v", err)
	}
	readme, err := assetFS.ReadFile("assets/README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	for _, pkg := range []struct{ variable, name, major string }{
		{"SWAGGER_UI_VERSION", "swagger-ui-dist", "5."},
		{"REDOC_VERSION", "redoc", "2.5."},
	} {
		m := regexp.MustCompile(`(?m)^` + pkg.variable + `=(\S+)$`).FindSubmatch(script)
		if m == nil {
			t.Errorf("update script does not pin %s", pkg.variable)
			continue
		}
		version := string(m[1])
		if !strings.HasPrefix(version, pkg.major) {
			t.Errorf("update script pins %s %s, want %sx", pkg.name, version, pkg.major)
		}
		if want := pkg.name + "@" + version; !strings.Contains(string(readme), want) {
			t.Errorf("assets/README.md does not name %s; rerun scripts/update-docs-assets.sh", want)
		}
	}
}
