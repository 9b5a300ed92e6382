package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
)

// assetFS holds the vendored bundles and their licence files, written by
// scripts/update-docs-assets.sh.
//
//go:embed assets
var assetFS embed.FS

// assetDir is the folder of assetFS that holds the files.
const assetDir = "assets"

// minGzipSize is the smallest asset worth compressing; below it the gzip
// header and a second representation cost more than they save.
const minGzipSize = 1024

// asset is one embedded file with what it takes to serve it.
type asset struct {
	name        string
	contentType string
	body        []byte
	// version is a short hex hash of body, used as the ?v= cache key in page
	// URLs.
	version string
	// etag is the strong ETag of body, quoted.
	etag string
	// gzipped returns body compressed with gzip, or nil when compressing
	// does not make it smaller. It runs once, on first use.
	gzipped func() []byte
}

// loadAssets reads every embedded file once; handlers share the result, so
// the gzip forms are compressed once per process, not once per handler.
var loadAssets = sync.OnceValue(func() map[string]*asset {
	entries, err := fs.ReadDir(assetFS, assetDir)
	if err != nil {
		// Unreachable for an embedded folder that compiled; the tests catch
		// an empty catalogue through the 404s it would cause.
		return nil
	}
	assets := make(map[string]*asset, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := assetFS.ReadFile(path.Join(assetDir, e.Name()))
		if err != nil {
			continue
		}
		assets[e.Name()] = newAsset(e.Name(), body)
	}
	return assets
})

// newAsset describes the file name with content body.
func newAsset(name string, body []byte) *asset {
	version := contentVersion(body)
	return &asset{
		name:        name,
		contentType: contentType(name),
		body:        body,
		version:     version,
		etag:        strconv.Quote(version),
		gzipped: sync.OnceValue(func() []byte {
			if len(body) < minGzipSize {
				return nil
			}
			var buf bytes.Buffer
			zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			if err != nil {
				return nil
			}
			if _, err := zw.Write(body); err != nil {
				return nil
			}
			if err := zw.Close(); err != nil {
				return nil
			}
			if buf.Len() >= len(body) {
				return nil
			}
			return buf.Bytes()
		}),
	}
}

// contentVersion is a short hex hash of body: 64 bits of SHA-256, plenty to
// tell releases apart.
func contentVersion(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}

// contentType is the media type served for the asset called name. Licence
// and notice files have no conventional extension and are plain text.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

// acceptsGzip reports whether the Accept-Encoding header values allow a
// gzip response: gzip is listed without q=0. A wildcard alone is not taken
// as consent, as some proxies mishandle it.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			return qualityNonZero(params)
		}
	}
	return false
}

// qualityNonZero reports whether the parameters of one Accept-Encoding
// element leave the coding acceptable, that is have no q of zero. A
// malformed q is taken as not acceptable.
func qualityNonZero(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && q > 0
	}
	return true
}
