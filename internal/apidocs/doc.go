// Package apidocs serves the interactive API documentation pages, Swagger UI
// at /docs and Redoc at /redoc, entirely from the binary: the pages load no
// script, style sheet, font or image from another origin, so they work on a
// machine without internet access and leak nothing to a CDN.
//
// The JavaScript and CSS bundles are vendored npm packages embedded with
// go:embed; scripts/update-docs-assets.sh regenerates them from pinned,
// integrity-checked versions, and assets/README.md names those versions.
//
// Each page is rendered once, when its handler is built, with html/template,
// so the title and the OpenAPI document URL are escaped for the context they
// appear in. Asset URLs carry a hash of the file's content in their query
// (?v=...), which lets a browser cache them for a year while an upgrade still
// takes effect at once; every asset also has a strong ETag, and a gzip form
// is compressed on first use and kept in memory.
//
// Every page carries a Content-Security-Policy that allows only its own
// origin. Two exceptions are forced by the vendored UIs: both set inline
// style attributes and inject style elements at run time, so style-src has
// 'unsafe-inline'; and Redoc builds its search worker from a blob: URL, so
// the Redoc page has worker-src blob:. Scripts never need 'unsafe-inline':
// Swagger UI's one inline start-up script is allowed by its SHA-256 hash, and
// Redoc starts itself from the <redoc spec-url> element.
//
// The policy also keeps the one outside request the vendored code would
// make: Redoc's sidebar footer shows its maker's logo from a CDN. The browser
// refuses that image before any request leaves it, and Redoc hides the image
// when it fails to load. This is why middleware must not replace the
// handlers' Content-Security-Policy with a looser one.
package apidocs
