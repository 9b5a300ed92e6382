package otelexport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.36.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// tracerName is the instrumentation scope of every span this package starts.
const tracerName = "github.com/omniserve/omniserve/internal/telemetry/otelexport"

// Config configures [New].
type Config struct {
	// LookupFunc reads the OTEL_* variables (see the package documentation
	// for which). Nil means none is set.
	LookupFunc func(string) (string, bool)
	// ReadFileFunc reads the certificate files the variables name. Defaults
	// to os.ReadFile.
	ReadFileFunc func(string) ([]byte, error)
	// ServiceName is the service.name resource attribute. OTEL_SERVICE_NAME
	// and a service.name in OTEL_RESOURCE_ATTRIBUTES win over it. Defaults to
	// "omniserve".
	ServiceName string
	// ServiceVersion is the service.version resource attribute and the
	// instrumentation scope version. Empty means unset.
	ServiceVersion string
	// Logger receives export failures. Nil means discard.
	Logger *slog.Logger
	// MaxOpenSpans bounds how many spans may wait for their end event; when
	// full, the oldest is ended early and marked omniserve.incomplete.
	// Defaults to 10,000.
	MaxOpenSpans int

	// SpanExporter, when set, receives the batched spans instead of an
	// OTLP/HTTP exporter built from the variables; tests use it. Shutdown
	// shuts it down.
	SpanExporter sdktrace.SpanExporter
	// TracerProvider, when set, is used as is: SpanExporter and the
	// variables are ignored, and Shutdown ends open spans but leaves the
	// provider to its owner. Tests use it to record spans synchronously.
	TracerProvider trace.TracerProvider
}

// defaultMaxOpenSpans is Config.MaxOpenSpans's default.
const defaultMaxOpenSpans = 10_000

func (c Config) withDefaults() Config {
	c.ServiceName = cmp.Or(c.ServiceName, "omniserve")
	c.MaxOpenSpans = cmp.Or(c.MaxOpenSpans, defaultMaxOpenSpans)
	if c.LookupFunc == nil {
		c.LookupFunc = func(string) (string, bool) { return "", false }
	}
	if c.ReadFileFunc == nil {
		c.ReadFileFunc = os.ReadFile
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.MaxOpenSpans < 0 {
		return errors.New("otelexport config: MaxOpenSpans must not be negative")
	}
	return nil
}

// Exporter maps events to spans and owns the tracer provider they go to.
// Its methods are safe for concurrent use. A nil *Exporter exports nothing.
type Exporter struct {
	tracer trace.Tracer
	logger *slog.Logger
	// tp is the provider New built; nil when one was injected.
	tp *sdktrace.TracerProvider
	// transport is the OTLP client's own transport, so Shutdown can close
	// its idle connections; nil when no OTLP exporter was built.
	transport *http.Transport

	mu     sync.Mutex
	spans  *openSpans
	closed bool
}

// New builds an exporter from cfg: a tracer provider with a batch span
// processor feeding an OTLP/HTTP exporter configured by the OTEL_*
// variables read through cfg.LookupFunc (or the injected SpanExporter or
// TracerProvider). It does not connect: a collector that is down only
// shows up as logged export failures.
func New(ctx context.Context, cfg Config) (*Exporter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With(slog.String("component", "otelexport"))
	x := &Exporter{logger: logger, spans: newOpenSpans(cfg.MaxOpenSpans)}
	scope := []trace.TracerOption{trace.WithSchemaURL(semconv.SchemaURL)}
	if cfg.ServiceVersion != "" {
		scope = append(scope, trace.WithInstrumentationVersion(cfg.ServiceVersion))
	}
	if cfg.TracerProvider != nil {
		x.tracer = cfg.TracerProvider.Tracer(tracerName, scope...)
		return x, nil
	}

	s, err := readSettings(envReader{lookup: cfg.LookupFunc, readFile: cfg.ReadFileFunc})
	if err != nil {
		return nil, fmt.Errorf("otel settings: %w", err)
	}
	res, err := newResource(ctx, cfg, s)
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	exp := cfg.SpanExporter
	if exp == nil {
		x.transport = newTransport(s)
		exp, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(s.endpointURL),
			otlptracehttp.WithHeaders(s.headers),
			otlptracehttp.WithTimeout(s.timeout),
			otlptracehttp.WithCompression(s.compression),
			otlptracehttp.WithEncoding(s.encoding),
			// TLS lives in our transport; nil clears any TLS settings the
			// SDK read from the process environment.
			otlptracehttp.WithTLSClientConfig(nil),
			otlptracehttp.WithHTTPClient(&http.Client{Transport: x.transport, Timeout: s.timeout}),
		)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
	}
	x.tp = sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggedExporter{SpanExporter: exp, logger: logger}, s.batch...),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s.sampler),
		sdktrace.WithRawSpanLimits(s.limits),
	)
	x.tracer = x.tp.Tracer(tracerName, scope...)
	return x, nil
}

// newResource describes this process: the SDK, then the code's service
// name and version, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME,
// later ones winning.
func newResource(ctx context.Context, cfg Config, s settings) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		semconv.TelemetrySDKName("opentelemetry"),
		semconv.TelemetrySDKLanguageGo,
		semconv.TelemetrySDKVersion(sdk.Version()),
		semconv.ServiceName(cfg.ServiceName),
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	attrs = append(attrs, s.resource...)
	if s.serviceName != "" {
		attrs = append(attrs, semconv.ServiceName(s.serviceName))
	}
	// Later duplicates win in an attribute set.
	return resource.New(ctx, resource.WithSchemaURL(semconv.SchemaURL), resource.WithAttributes(attrs...))
}

// newTransport is a private copy of Go's default transport, so Shutdown can
// close its connections without touching anyone else's, with the TLS and
// proxy settings read through the lookup.
func newTransport(s settings) *http.Transport {
	return &http.Transport{
		Proxy:                 s.proxy,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       s.tls,
	}
}

// Shutdown ends the spans still open (marked omniserve.incomplete), then
// flushes and stops the tracer provider New built, within ctx. Events
// appended afterwards are still stored but no longer exported. Calling it
// again does nothing.
func (x *Exporter) Shutdown(ctx context.Context) error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	x.spans.endAll(time.Now())
	x.mu.Unlock()

	var err error
	if x.tp != nil {
		if serr := x.tp.Shutdown(ctx); serr != nil {
			err = fmt.Errorf("shut down tracer provider: %w", serr)
		}
	}
	if x.transport != nil {
		x.transport.CloseIdleConnections()
	}
	return err
}

// Wrap returns s with export added: its EventAppend appends to s first and
// then maps the event to spans, whether or not the append failed (the
// span describes what the run did, not whether the log kept it). Every
// other method of s, including ones added to [telemetry.Store] later, is
// s's own. On a nil *Exporter, Wrap returns s.
func (x *Exporter) Wrap(s telemetry.Store) telemetry.Store {
	if x == nil {
		return s
	}
	return &store{Store: s, x: x}
}

// store is the decorator [Exporter.Wrap] returns.
type store struct {
	telemetry.Store
	x *Exporter
}

// Interface guard.
var _ telemetry.Store = (*store)(nil)

// EventAppend implements [telemetry.Store].
func (s *store) EventAppend(ctx context.Context, e *telemetry.Event) error {
	err := s.Store.EventAppend(ctx, e)
	s.x.record(ctx, e)
	return err
}

// loggedExporter reports export failures to the logger instead of the
// SDK's global error handler: a warning when exports start failing, debug
// lines while they keep failing, and a note when they recover.
type loggedExporter struct {
	sdktrace.SpanExporter
	logger  *slog.Logger
	failing atomic.Bool
}

// ExportSpans implements [sdktrace.SpanExporter].
func (l *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := l.SpanExporter.ExportSpans(ctx, spans)
	switch {
	case err == nil:
		if l.failing.Swap(false) {
			l.logger.Info("span export recovered")
		}
	case !l.failing.Swap(true):
		l.logger.Warn("export spans", slog.Int("spans", len(spans)), slog.String("error", err.Error()))
	default:
		l.logger.Debug("export spans", slog.Int("spans", len(spans)), slog.String("error", err.Error()))
	}
	// The error is reported; returning it would report it again through
	// the SDK's global handler, which logs outside slog.
	return nil
}
