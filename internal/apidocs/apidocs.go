package apidocs

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures one documentation page handler.
type Config struct {
	// Title is the page title shown in the browser tab. Defaults to
	// "OmniServe API".
	Title string

	// SpecURL is the URL of the OpenAPI document the page renders, best
	// given as an absolute path so it resolves the same from BasePath and
	// BasePath + "/". An absolute http or https URL on another origin is
	// also allowed by the page's Content-Security-Policy. Defaults to
	// "/openapi.json".
	SpecURL string

	// BasePath is the path the handler is mounted at, without a trailing
	// slash: the page is served at BasePath and BasePath + "/", and its
	// files under BasePath + "/assets/". The handler matches the full
	// request path, so mount it for both BasePath and BasePath + "/" and do
	// not strip the prefix. Defaults to "/docs" for [Swagger] and "/redoc"
	// for [Redoc].
	BasePath string
}

// Default values of [Config] fields.
const (
	defaultTitle   = "OmniServe API"
	defaultSpecURL = "/openapi.json"
)

// withDefaults fills the zero fields of c and normalizes BasePath to a
// leading slash and no trailing one ("" for the root).
func (c Config) withDefaults(basePath string) Config {
	c.Title = cmp.Or(c.Title, defaultTitle)
	c.SpecURL = cmp.Or(c.SpecURL, defaultSpecURL)
	c.BasePath = cmp.Or(c.BasePath, basePath)
	c.BasePath = strings.TrimRight("/"+strings.Trim(c.BasePath, "/"), "/")
	return c
}

// swaggerInit starts Swagger UI. It is a constant so the page's
// Content-Security-Policy can allow it by hash; the document URL reaches it
// through a data attribute that html/template escapes. validatorUrl is null
// so the UI never sends the document to the online validator.
const swaggerInit = `
window.ui = SwaggerUIBundle({
  domNode: document.getElementById("swagger-ui"),
  url: document.getElementById("swagger-ui").dataset.specUrl,
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  layout: "BaseLayout"
});
`

var swaggerPage = template.Must(template.New("swagger").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{index .Assets "swagger-ui.css"}}">
<style>body { margin: 0; }</style>
</head>
<body>
<noscript>This page needs JavaScript. The OpenAPI document is at <a href="{{.SpecURL}}">{{.SpecURL}}</a>.</noscript>
<div id="swagger-ui" data-spec-url="{{.SpecURL}}"></div>
<script src="{{index .Assets "swagger-ui-bundle.js"}}"></script>
<script>{{.Init}}</script>
</body>
</html>
`))

var redocPage = template.Must(template.New("redoc").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<noscript>This page needs JavaScript. The OpenAPI document is at <a href="{{.SpecURL}}">{{.SpecURL}}</a>.</noscript>
<redoc spec-url="{{.SpecURL}}"></redoc>
<script src="{{index .Assets "redoc.standalone.js"}}"></script>
</body>
</html>
`))

// pageData is what the page templates render.
type pageData struct {
	Title   string
	SpecURL string
	// Assets maps an asset's file name to its versioned URL.
	Assets map[string]string
	// Init is the inline start-up script, trusted because it is a
	// constant of this package.
	Init template.JS
}

// Swagger returns a handler serving Swagger UI at cfg.BasePath ("/docs" by
// default) for the OpenAPI document at cfg.SpecURL, with its files under
// cfg.BasePath + "/assets/". Other paths get 404.
func Swagger(cfg Config) http.Handler {
	cfg = cfg.withDefaults("/docs")
	return newHandler(cfg, swaggerPage, []string{
		"swagger-ui.css",
		"swagger-ui-bundle.js",
		"swagger-ui-bundle.js.LICENSE.txt",
		"swagger-ui-dist.LICENSE",
		"swagger-ui-dist.NOTICE",
	}, swaggerInit, csp{
		// Swagger UI shows image responses from "Try it out" as blob: URLs.
		imgSrc: "'self' data: blob:",
	})
}

// Redoc returns a handler serving Redoc at cfg.BasePath ("/redoc" by
// default) for the OpenAPI document at cfg.SpecURL, with its files under
// cfg.BasePath + "/assets/". Other paths get 404.
func Redoc(cfg Config) http.Handler {
	cfg = cfg.withDefaults("/redoc")
	return newHandler(cfg, redocPage, []string{
		"redoc.standalone.js",
		"redoc.LICENSE",
	}, "", csp{
		imgSrc: "'self' data:",
		// Redoc runs its search index in a worker built from a blob: URL.
		workerSrc: "blob:",
	})
}

// csp holds the directives that differ between the pages.
type csp struct {
	imgSrc    string
	workerSrc string
}

// header renders the Content-Security-Policy for a page whose inline
// script is init ("" for none) and whose document lives at specURL.
func (c csp) header(init, specURL string) string {
	scriptSrc := "'self'"
	if init != "" {
		sum := sha256.Sum256([]byte(init))
		scriptSrc += " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	connectSrc := "'self'"
	if u, err := url.Parse(specURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		connectSrc += " " + u.Scheme + "://" + u.Host
	}
	directives := []string{
		"default-src 'none'",
		"script-src " + scriptSrc,
		"style-src 'self' 'unsafe-inline'",
		"img-src " + c.imgSrc,
		"connect-src " + connectSrc,
	}
	if c.workerSrc != "" {
		directives = append(directives, "worker-src "+c.workerSrc)
	}
	directives = append(directives,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'self'",
	)
	return strings.Join(directives, "; ")
}

// handler serves one rendered page and its assets.
type handler struct {
	// base is Config.BasePath after defaults: "" for the root.
	base string
	// page is the rendered HTML, nil if rendering failed.
	page     []byte
	pageETag string
	csp      string
	assets   map[string]*asset
}

// newHandler renders page for cfg and picks the named assets, which the
// page may reference through pageData.Assets.
func newHandler(cfg Config, page *template.Template, names []string, init string, policy csp) *handler {
	all := loadAssets()
	h := &handler{
		base:   cfg.BasePath,
		csp:    policy.header(init, cfg.SpecURL),
		assets: make(map[string]*asset, len(names)),
	}
	urls := make(map[string]string, len(names))
	for _, name := range names {
		a, ok := all[name]
		if !ok {
			continue
		}
		h.assets[name] = a
		urls[name] = h.base + "/assets/" + name + "?v=" + a.version
	}
	var buf bytes.Buffer
	err := page.Execute(&buf, pageData{
		Title:   cfg.Title,
		SpecURL: cfg.SpecURL,
		Assets:  urls,
		Init:    template.JS(init), //nolint:gosec // A constant of this package, never input.
	})
	if err == nil {
		h.page = buf.Bytes()
		h.pageETag = strconv.Quote(contentVersion(h.page))
	}
	return h
}

// ServeHTTP serves the page, an asset, or 404.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var a *asset
	if p != h.base && p != h.base+"/" {
		if name, ok := strings.CutPrefix(p, h.base+"/assets/"); ok {
			a = h.assets[name]
		}
		if a == nil {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	if a != nil {
		h.serveAsset(w, r, a)
		return
	}
	h.servePage(w, r)
}

// servePage writes the HTML page with its security headers. The page is
// revalidated on every visit, which is cheap through its ETag, so a new
// release's asset URLs are picked up at once.
func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	if h.page == nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", h.pageETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
}

// serveAsset writes one embedded file. A request carrying the current
// version in ?v= may be cached for a year, since the page will ask for a
// new URL once the content changes; any other is revalidated by ETag.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Add("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "public, no-cache")
	}
	body, etag := a.body, a.etag
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		if gz := a.gzipped(); gz != nil {
			body = gz
			etag = `"` + a.version + `-gzip"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}
