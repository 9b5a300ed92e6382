// Package httpapi is the HTTP face of one served agent: routes, handlers,
// the SSE writer, error mapping and middleware. Routes are declared with
// huma on a chi router, so /openapi.json is generated from the same types
// the handlers use.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/apidocs"
	"github.com/omniserve/omniserve/internal/metrics"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// Config configures an [API].
type Config struct {
	// Runner is the served agent. Required.
	Runner agent.Runner
	// Events is the telemetry log runs are appended to. Required.
	Events telemetry.Store
	// Metrics receives request and run metrics. Defaults to a fresh registry.
	Metrics *metrics.Metrics
	// Version is reported by /health and /openapi.json. Defaults to "0+unknown".
	Version string
	// APIPrefix mounts the agent routes under a path such as "/api/v1"; it
	// must already be normalised. Defaults to "" (the root).
	APIPrefix string
	// RequestTimeout bounds one run; zero or less disables it. Defaults to 0.
	RequestTimeout time.Duration
	// MaxBodyBytes caps request bodies. Defaults to 1 MiB.
	MaxBodyBytes int64
	// KeepAlive is the interval of SSE keep-alive comments. Defaults to 15s.
	KeepAlive time.Duration
	// SSEWriteTimeout is how long one SSE frame may take to reach a client
	// before the stream is dropped. Defaults to 30s.
	SSEWriteTimeout time.Duration
	// MaxStreamLag is how many events a follow stream (/events/{id},
	// /telemetry/events/stream) may fall behind the session's newest
	// event before it gets an `error` frame asking it to resume with
	// Last-Event-ID and is disconnected. Defaults to 10,000.
	MaxStreamLag int
	// AuthToken, when set, protects every non-public route with
	// "Authorization: Bearer <token>".
	AuthToken string
	// RequestLogging logs one line per request.
	RequestLogging bool
	// MCPStatusFunc reports the agent's MCP servers for /ready; nil means
	// the agent has none.
	MCPStatusFunc func() []MCPServerStatus
	// EnableDocs serves Swagger UI at /docs.
	EnableDocs bool
	// EnableRedoc serves ReDoc at /redoc.
	EnableRedoc bool
	// CORS configures cross-origin requests; off when CORS.Enabled is false.
	CORS CORSConfig
	// RateLimit is the requests each client may make per RateLimitWindow;
	// zero disables rate limiting.
	RateLimit int
	// RateLimitWindow is the rate-limit window. Defaults to 60s.
	RateLimitWindow time.Duration
	// RateLimitMaxClients bounds the rate limiter's table. Defaults to 100,000.
	RateLimitMaxClients int
	// TrustedProxies are the peers whose X-Forwarded-For and X-Real-IP
	// headers are believed. None by default.
	TrustedProxies []netip.Prefix
	// MaxConcurrentRuns caps runs in flight in this process; zero means
	// unlimited.
	MaxConcurrentRuns int
	// RunAdmissionWait is how long a run request waits for a slot before a
	// 503. Defaults to 0 (refuse at once when full).
	RunAdmissionWait time.Duration
	// Logger receives request logs and errors; nil discards them.
	Logger *slog.Logger
	// Background, when set, mounts the /background routes on it
	// (OMNICOREAGENT_BACKGROUND_ENABLED). Defaults to nil: no routes.
	Background BackgroundService
}

// API serves one agent over HTTP.
type API struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	admit   *admission
	handler http.Handler
	started time.Time

	ready    atomic.Bool
	draining atomic.Bool
	// abort is cancelled when in-flight runs and streams must end now
	// (the shutdown grace period is over).
	abort       context.Context
	abortCancel context.CancelFunc
	// drain is cancelled when shutdown begins: follow streams end then.
	drain       context.Context
	drainCancel context.CancelFunc
}

// New builds the API. It is not ready (GET /ready answers 503) until
// [API.SetReady] is called.
func New(cfg Config) (*API, error) {
	if cfg.Runner == nil {
		return nil, errors.New("httpapi: Runner is required")
	}
	if cfg.Events == nil {
		return nil, errors.New("httpapi: Events is required")
	}
	cfg.Version = cmp.Or(cfg.Version, "0+unknown")
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 1<<20)
	cfg.KeepAlive = cmp.Or(cfg.KeepAlive, 15*time.Second)
	cfg.SSEWriteTimeout = cmp.Or(cfg.SSEWriteTimeout, 30*time.Second)
	a := &API{
		cfg:     cfg,
		log:     cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		metrics: cfg.Metrics,
		started: time.Now(),
	}
	if a.metrics == nil {
		a.metrics = metrics.New()
	}
	a.admit = newAdmission(cfg.MaxConcurrentRuns, cfg.RunAdmissionWait, a.metrics)
	a.abort, a.abortCancel = context.WithCancel(context.Background())
	a.drain, a.drainCancel = context.WithCancel(context.Background())
	a.handler = a.routes()
	return a, nil
}

// Handler returns the HTTP handler serving every route.
func (a *API) Handler() http.Handler { return a.handler }

// SetReady marks startup as finished (or not).
func (a *API) SetReady(ready bool) { a.ready.Store(ready) }

// BeginDrain makes /ready answer 503 so load balancers stop sending
// traffic; in-flight work continues.
func (a *API) BeginDrain() {
	a.draining.Store(true)
	a.drainCancel()
}

// Abort ends in-flight runs and open streams now: runs are cancelled and
// streams get a final error frame.
func (a *API) Abort() { a.abortCancel() }

// Close releases the API's resources.
func (a *API) Close() {
	a.drainCancel()
	a.abortCancel()
}

func (a *API) routes() http.Handler {
	installErrors()
	root := chi.NewRouter()
	root.Use(a.recoverer, a.observe)
	if a.cfg.CORS.Enabled {
		root.Use(corsMiddleware(a.cfg.CORS))
	}
	if a.cfg.RequestTimeout > 0 {
		root.Use(a.timeoutMiddleware)
	}
	if a.cfg.RateLimit > 0 {
		window := cmp.Or(a.cfg.RateLimitWindow, time.Minute)
		limiter := newRateLimiter(a.cfg.RateLimit, window, cmp.Or(a.cfg.RateLimitMaxClients, 100_000))
		root.Use(a.rateLimitMiddleware(limiter, a.cfg.TrustedProxies))
	}

	hc := huma.DefaultConfig(a.cfg.Runner.Name()+" API", a.cfg.Version)
	hc.Info.Description = "OmniServe: the agent " + a.cfg.Runner.Name() + " served over REST and Server-Sent Events."
	hc.OpenAPIPath = "" // served below at /openapi.json, outside the prefix
	hc.DocsPath = ""
	hc.SchemasPath = ""
	hc.CreateHooks = nil // no $schema links in bodies: clients of the original expect plain objects
	hc.OnAddOperation = append(hc.OnAddOperation, tagOperation)
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "Required when the server runs with an auth token."},
	}

	var api huma.API
	if a.cfg.APIPrefix == "" {
		api = humachi.New(root, hc)
	} else {
		sub := chi.NewRouter()
		root.Mount(a.cfg.APIPrefix, sub)
		hc.Servers = []*huma.Server{{URL: a.cfg.APIPrefix}}
		api = humachi.New(sub, hc)
	}
	api.UseMiddleware(a.authMiddleware(api))

	a.registerCore(api)
	a.registerRun(api)
	a.registerTelemetry(api)
	if a.cfg.Background != nil {
		a.registerBackground(api)
	}

	root.Get("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		b, err := api.OpenAPI().MarshalJSON()
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	root.Handle("/prometheus", a.metrics.Handler())
	title := a.cfg.Runner.Name() + " API"
	if a.cfg.EnableDocs {
		h := apidocs.Swagger(apidocs.Config{Title: title, SpecURL: "/openapi.json", BasePath: "/docs"})
		root.Handle("/docs", h)
		root.Handle("/docs/*", h)
	}
	if a.cfg.EnableRedoc {
		h := apidocs.Redoc(apidocs.Config{Title: title, SpecURL: "/openapi.json", BasePath: "/redoc"})
		root.Handle("/redoc", h)
		root.Handle("/redoc/*", h)
	}
	root.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, detailError(http.StatusNotFound, "Not Found"))
	})
	root.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, detailError(http.StatusMethodNotAllowed, "Method Not Allowed"))
	})
	return root
}

// public reports whether op needs no token.
func public(op *huma.Operation) bool {
	v, _ := op.Metadata[metaPublic].(bool)
	return v
}

// publicMeta is the Metadata of an operation that needs no token.
func publicMeta() map[string]any { return map[string]any{metaPublic: true} }

// tagOperation groups operations in the docs by the first path segment.
func tagOperation(_ *huma.OpenAPI, op *huma.Operation) {
	if len(op.Tags) > 0 {
		return
	}
	switch seg, _, _ := strings.Cut(strings.TrimPrefix(op.Path, "/"), "/"); seg {
	case "run":
		op.Tags = []string{"Runs"}
	case "health", "ready":
		op.Tags = []string{"Health"}
	case "tools", "metrics":
		op.Tags = []string{"Agent"}
	case "events", "sessions":
		op.Tags = []string{"Sessions"}
	case "telemetry":
		op.Tags = []string{"Telemetry"}
	case "background":
		op.Tags = []string{"Background"}
	}
}
