package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// page describes one documentation handler under test.
type page struct {
	name string
	new  func(Config) http.Handler
	base string
	// wantAssets are the files the page loads, sorted.
	wantAssets []string
	// licences are the licence files the handler serves.
	licences []string
}

var pages = []page{
	{
		name:       "swagger",
		new:        Swagger,
		base:       "/docs",
		wantAssets: []string{"swagger-ui-bundle.js", "swagger-ui.css"}, // sorted
		licences:   []string{"swagger-ui-dist.LICENSE", "swagger-ui-dist.NOTICE", "swagger-ui-bundle.js.LICENSE.txt"},
	},
	{
		name:       "redoc",
		new:        Redoc,
		base:       "/redoc",
		wantAssets: []string{"redoc.standalone.js"},
		licences:   []string{"redoc.LICENSE"},
	},
}

// serve runs one request through h and returns the recorded response.
func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// readBody returns the whole body of resp.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// getPage fetches the page at target and checks the response is HTML.
func getPage(t *testing.T, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	resp := serve(t, h, http.MethodGet, target, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d, want 200", target, resp.StatusCode)
	}
	if got, want := resp.Header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
		t.Errorf("GET %s: got Content-Type %q, want %q", target, got, want)
	}
	return resp, body
}

var (
	attrURLRE      = regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	inlineScriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	absoluteURLRE  = regexp.MustCompile(`(?i)https?://`)
)

// referencedAssets returns the URLs of the page's own assets, unescaped.
func referencedAssets(body, base string) []string {
	var urls []string
	for _, m := range attrURLRE.FindAllStringSubmatch(body, -1) {
		u := html.UnescapeString(m[1])
		if strings.HasPrefix(u, base+"/assets/") {
			urls = append(urls, u)
		}
	}
	return urls
}

func TestPage(t *testing.T) {
	t.Parallel()

	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			h := p.new(Config{SpecURL: "/openapi.json"})

			for _, target := range []string{p.base, p.base + "/"} {
				_, body := getPage(t, h, target)
				if !strings.Contains(body, `"/openapi.json"`) {
					t.Errorf("GET %s: page does not contain the spec URL:\n%s", target, body)
				}
				if loc := absoluteURLRE.FindStringIndex(body); loc != nil {
					t.Errorf("GET %s: page contains an absolute URL at %d: %q", target, loc[0], body[loc[0]:min(loc[1]+40, len(body))])
				}
			}
		})
	}
}

func TestSwaggerDisablesValidator(t *testing.T) {
	t.Parallel()

	_, body := getPage(t, Swagger(Config{}), "/docs")
	if !strings.Contains(body, "validatorUrl: null") {
		t.Errorf("page lacks validatorUrl: null:\n%s", body)
	}
}

func TestPageAssets(t *testing.T) {
	t.Parallel()

	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			h := p.new(Config{})
			_, body := getPage(t, h, p.base)

			urls := referencedAssets(body, p.base)
			var names []string
			for _, u := range urls {
				resp := serve(t, h, http.MethodGet, u, nil)
				got := readBody(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: got status %d, want 200", u, resp.StatusCode)
					continue
				}
				ct := resp.Header.Get("Content-Type")
				if !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
					t.Errorf("GET %s: got Content-Type %q, want JavaScript or CSS", u, ct)
				}
				if got, want := resp.Header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
					t.Errorf("GET %s: got Cache-Control %q, want %q", u, got, want)
				}
				if resp.Header.Get("ETag") == "" {
					t.Errorf("GET %s: no ETag", u)
				}
				path, _, _ := strings.Cut(u, "?")
				name := strings.TrimPrefix(path, p.base+"/assets/")
				want, err := assetFS.ReadFile("assets/" + name)
				if err != nil {
					t.Fatalf("read embedded %s: %v", name, err)
				}
				if got != string(want) {
					t.Errorf("GET %s: body differs from the embedded file (%d bytes, want %d)", u, len(got), len(want))
				}
				names = append(names, name)
			}
			slices.Sort(names)
			if diff := cmp.Diff(p.wantAssets, names); diff != "" {
				t.Errorf("referenced assets mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	t.Parallel()

	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			resp, body := getPage(t, p.new(Config{}), p.base)

			policy := resp.Header.Get("Content-Security-Policy")
			directives := make(map[string]string)
			for d := range strings.SplitSeq(policy, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
				directives[name] = value
			}
			if got := directives["default-src"]; got != "'none'" {
				t.Errorf("got default-src %q, want 'none'", got)
			}
			for _, d := range []string{"script-src", "connect-src", "img-src"} {
				if !strings.HasPrefix(directives[d], "'self'") {
					t.Errorf("got %s %q, want it to start with 'self'", d, directives[d])
				}
			}
			if strings.Contains(policy, "unsafe-eval") || strings.Contains(directives["script-src"], "unsafe-inline") {
				t.Errorf("policy allows eval or inline scripts: %q", policy)
			}
			if strings.Contains(policy, "http") {
				t.Errorf("policy allows another origin: %q", policy)
			}
			// Every inline script must be allowed by its hash, or the
			// browser would refuse to run it.
			for _, m := range inlineScriptRE.FindAllStringSubmatch(body, -1) {
				sum := sha256.Sum256([]byte(m[1]))
				hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
				if !strings.Contains(directives["script-src"], hash) {
					t.Errorf("script-src %q lacks %s for inline script %q", directives["script-src"], hash, m[1])
				}
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-cache",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("got %s %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestSpecURLOnOtherOrigin(t *testing.T) {
	t.Parallel()

	resp, _ := getPage(t, Redoc(Config{SpecURL: "https://api.example.com:8443/v1/openapi.json"}), "/redoc")
	if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "connect-src 'self' https://api.example.com:8443;") {
		t.Errorf("got policy %q, want connect-src to allow the spec's origin", got)
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		cfg  Config
		// bad must not appear in the page; want must.
		bad, want []string
	}{
		{
			name: "TitleWithScript",
			cfg:  Config{Title: `API</title><script>alert(1)</script>`},
			bad:  []string{"<script>alert(1)", "</title><script>"},
			want: []string{"<title>API&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>"},
		},
		{
			name: "SpecURLBreakingOutOfAttribute",
			cfg:  Config{SpecURL: `/openapi.json"><script>alert(2)</script>`},
			bad:  []string{"<script>alert(2)", `"><script>`},
		},
		{
			name: "JavaScriptSpecURL",
			cfg:  Config{SpecURL: "javascript:alert(3)"},
			bad:  []string{"javascript:alert(3)\"", "href=\"javascript:"},
			want: []string{"#ZgotmplZ"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, p := range pages {
				_, body := getPage(t, p.new(tt.cfg), p.base)
				for _, s := range tt.bad {
					if strings.Contains(body, s) {
						t.Errorf("%s: page contains %q:\n%s", p.name, s, body)
					}
				}
				for _, s := range tt.want {
					if !strings.Contains(body, s) {
						t.Errorf("%s: page lacks %q:\n%s", p.name, s, body)
					}
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()

	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			h := p.new(Config{})
			targets := []string{
				p.base + "/assets/",
				p.base + "/assets/nope.js",
				p.base + "/assets/README.md",
				p.base + "/assets/swagger-ui.js",
				p.base + "/assets/redoc.standalone.js.map",
				p.base + "/assets/sub/redoc.LICENSE",
				p.base + "/assets/%2e%2e/apidocs.go",
				p.base + "/index.html",
				p.base + "x",
				p.base + "//",
				"/",
				"/elsewhere",
			}
			// Each handler serves only its own UI's files.
			for _, other := range pages {
				if other.name != p.name {
					targets = append(targets, p.base+"/assets/"+other.wantAssets[0])
				}
			}
			for _, target := range targets {
				resp := serve(t, h, http.MethodGet, target, nil)
				_ = readBody(t, resp)
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: got status %d, want 404", target, resp.StatusCode)
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()

	h := Swagger(Config{})
	for _, target := range []string{"/docs", "/docs/assets/swagger-ui.css"} {
		resp := serve(t, h, http.MethodPost, target, nil)
		_ = readBody(t, resp)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: got status %d, want 405", target, resp.StatusCode)
		}
		if got, want := resp.Header.Get("Allow"), "GET, HEAD"; got != want {
			t.Errorf("POST %s: got Allow %q, want %q", target, got, want)
		}
	}

	resp := serve(t, h, http.MethodHead, "/docs/assets/swagger-ui.css", nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: got status %d and %d body bytes, want 200 and none", resp.StatusCode, len(body))
	}
}

func TestAssetCaching(t *testing.T) {
	t.Parallel()

	h := Redoc(Config{})
	a := loadAssets()["redoc.standalone.js"]
	versioned := "/redoc/assets/redoc.standalone.js?v=" + a.version

	t.Run("UnversionedRevalidates", func(t *testing.T) {
		t.Parallel()
		for _, target := range []string{"/redoc/assets/redoc.standalone.js", "/redoc/assets/redoc.standalone.js?v=old"} {
			resp := serve(t, h, http.MethodGet, target, nil)
			_ = readBody(t, resp)
			if got, want := resp.Header.Get("Cache-Control"), "public, no-cache"; got != want {
				t.Errorf("GET %s: got Cache-Control %q, want %q", target, got, want)
			}
		}
	})

	t.Run("NotModified", func(t *testing.T) {
		t.Parallel()
		first := serve(t, h, http.MethodGet, versioned, nil)
		_ = readBody(t, first)
		etag := first.Header.Get("ETag")
		resp := serve(t, h, http.MethodGet, versioned, http.Header{"If-None-Match": {etag}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("conditional GET with ETag %s: got status %d and %d body bytes, want 304 and none", etag, resp.StatusCode, len(body))
		}
	})

	t.Run("Gzip", func(t *testing.T) {
		t.Parallel()
		plain := serve(t, h, http.MethodGet, versioned, nil)
		_ = readBody(t, plain)
		resp := serve(t, h, http.MethodGet, versioned, http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
		body := readBody(t, resp)
		if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
			t.Fatalf("got Content-Encoding %q, want gzip", got)
		}
		if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("got Vary %q, want Accept-Encoding", got)
		}
		if resp.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Errorf("gzip and identity responses share ETag %s", plain.Header.Get("ETag"))
		}
		if len(body) >= len(a.body)/2 {
			t.Errorf("got %d gzip bytes for %d plain ones, want under half", len(body), len(a.body))
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatalf("gzip reader: %v", err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gunzip: %v", err)
		}
		if !bytes.Equal(got, a.body) {
			t.Errorf("gunzipped body differs from the embedded file")
		}
	})
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()

	tests := []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"deflate, gzip, br"}, true},
		{[]string{"br", "gzip;q=0.5"}, true},
		{[]string{"gzip; q=0"}, false},
		{[]string{"gzip;q=0.000"}, false},
		{[]string{"gzip;q=bad"}, false},
		{[]string{"*"}, false},
		{[]string{"x-gzip"}, false},
		{[]string{"identity"}, false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.values); got != tt.want {
			t.Errorf("acceptsGzip(%q): got %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   Config
		want Config
	}{
		{Config{}, Config{Title: "OmniServe API", SpecURL: "/openapi.json", BasePath: "/docs"}},
		{Config{Title: "T", SpecURL: "/v1/spec.json", BasePath: "/api/docs/"}, Config{Title: "T", SpecURL: "/v1/spec.json", BasePath: "/api/docs"}},
		{Config{BasePath: "reference"}, Config{Title: "OmniServe API", SpecURL: "/openapi.json", BasePath: "/reference"}},
		{Config{BasePath: "/"}, Config{Title: "OmniServe API", SpecURL: "/openapi.json", BasePath: ""}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.in.withDefaults("/docs")); diff != "" {
			t.Errorf("%+v.withDefaults mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestMountedAtRoot(t *testing.T) {
	t.Parallel()

	h := Swagger(Config{BasePath: "/"})
	_, body := getPage(t, h, "/")
	urls := referencedAssets(body, "")
	if len(urls) == 0 {
		t.Fatalf("page references no /assets/ URL:\n%s", body)
	}
	for _, u := range urls {
		resp := serve(t, h, http.MethodGet, u, nil)
		_ = readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got status %d, want 200", u, resp.StatusCode)
		}
	}
}

func TestLicences(t *testing.T) {
	t.Parallel()

	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			h := p.new(Config{})
			for _, name := range p.licences {
				want, err := assetFS.ReadFile("assets/" + name)
				if err != nil {
					t.Fatalf("licence %s is not embedded: %v", name, err)
				}
				resp := serve(t, h, http.MethodGet, p.base+"/assets/"+name, nil)
				got := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || got != string(want) {
					t.Errorf("GET %s: got status %d and %d bytes, want 200 and the embedded %d", name, resp.StatusCode, len(got), len(want))
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("GET %s: got Content-Type %q, want text/plain", name, ct)
				}
			}
		})
	}
}
