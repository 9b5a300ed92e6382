package otelexport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/telemetry"
)

func TestEnabled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		vars map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"empty endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, false},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "TRUE"}, false},
		{"sdk not disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "false"}, true},
		{"traces exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"traces exporter otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "otlp"}, true},
	}
	for _, c := range cases {
		if got := Enabled(env(c.vars)); got != c.want {
			t.Errorf("%s: Enabled = %v, want %v", c.name, got, c.want)
		}
	}
	if Enabled(nil) {
		t.Error("Enabled(nil) = true, want false")
	}
}

// view is the comparable part of settings.
type view struct {
	Endpoint    string
	Headers     map[string]string
	Timeout     time.Duration
	Compression otlptracehttp.Compression
	Encoding    otlptracehttp.Encoding
	Sampler     string
	Batch       int
	AttrCount   int
	AttrLength  int
	ServiceName string
	Resource    []attribute.KeyValue
}

func viewOf(s settings) view {
	return view{
		Endpoint: s.endpointURL, Headers: s.headers, Timeout: s.timeout,
		Compression: s.compression, Encoding: s.encoding, Sampler: s.sampler.Description(),
		Batch: len(s.batch), AttrCount: s.limits.AttributeCountLimit, AttrLength: s.limits.AttributeValueLengthLimit,
		ServiceName: s.serviceName, Resource: s.resource,
	}
}

func TestReadSettings(t *testing.T) {
	t.Parallel()
	defaults := view{
		Endpoint: "http://localhost:4318/v1/traces", Headers: map[string]string{}, Timeout: 10 * time.Second,
		Compression: otlptracehttp.NoCompression, Encoding: otlptracehttp.EncodingProtobuf,
		Sampler:   "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
		AttrCount: 128, AttrLength: -1,
	}
	cases := []struct {
		name string
		vars map[string]string
		edit func(v *view)
	}{
		{"defaults", nil, func(*view) {}},
		{"base endpoint gets the traces path",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"},
			func(v *view) { v.Endpoint = "https://collector:4318/v1/traces" }},
		{"base endpoint with a path and a slash",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://gw/otlp/"},
			func(v *view) { v.Endpoint = "http://gw/otlp/v1/traces" }},
		{"traces endpoint is used as is and wins",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:9/x"},
			func(v *view) { v.Endpoint = "http://b:9/x" }},
		{"traces endpoint without a path",
			map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:9"},
			func(v *view) { v.Endpoint = "http://b:9/" }},
		{"headers, traces form first",
			map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": " api-key = s%3Dcr%20t ,x=y"},
			func(v *view) { v.Headers = map[string]string{"api-key": "s=cr t", "x": "y"} }},
		{"timeout, compression, json",
			map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "GZIP", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			func(v *view) {
				v.Timeout, v.Compression, v.Encoding = 2500*time.Millisecond, otlptracehttp.GzipCompression, otlptracehttp.EncodingJSON
			}},
		{"ratio sampler",
			map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			func(v *view) { v.Sampler = "TraceIDRatioBased{0.25}" }},
		{"always off",
			map[string]string{"OTEL_TRACES_SAMPLER": "always_off"},
			func(v *view) { v.Sampler = "AlwaysOffSampler" }},
		{"batch and limits",
			map[string]string{
				"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_EXPORT_TIMEOUT": "1000", "OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "5",
				"OTEL_ATTRIBUTE_COUNT_LIMIT": "64", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "32", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "256",
			},
			func(v *view) { v.Batch, v.AttrCount, v.AttrLength = 4, 32, 256 }},
		{"resource",
			map[string]string{"OTEL_SERVICE_NAME": "svc", "OTEL_RESOURCE_ATTRIBUTES": "team=ai, region=eu%2Dwest"},
			func(v *view) {
				v.ServiceName = "svc"
				v.Resource = []attribute.KeyValue{attribute.String("team", "ai"), attribute.String("region", "eu-west")}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := readSettings(envReader{lookup: env(c.vars)})
			if err != nil {
				t.Fatalf("readSettings: %v", err)
			}
			want := defaults
			want.Headers = map[string]string{}
			c.edit(&want)
			if diff := cmp.Diff(want, viewOf(s), cmp.Comparer(func(a, b attribute.KeyValue) bool { return a == b })); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadSettingsErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2"
	cases := []struct {
		vars     map[string]string
		wantName string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318/" + secret}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://" + secret}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=1," + secret}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "k=" + secret + "%zz"}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "0"}, "OTEL_BSP_MAX_QUEUE_SIZE"},
		{map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "-1"}, "OTEL_BSP_SCHEDULE_DELAY"},
		{map[string]string{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "many"}, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"},
	}
	for _, c := range cases {
		_, err := readSettings(envReader{lookup: env(c.vars)})
		if err == nil || !strings.Contains(err.Error(), c.wantName) {
			t.Errorf("%v: got error %v, want one naming %s", c.vars, err, c.wantName)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%v: error %q quotes the value", c.vars, err)
		}
	}
	// New reports them too.
	if _, err := New(t.Context(), Config{LookupFunc: env(map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})}); err == nil {
		t.Error("New with protocol grpc: got nil error")
	}
	if _, err := New(t.Context(), Config{MaxOpenSpans: -1}); err == nil || !strings.Contains(err.Error(), "MaxOpenSpans") {
		t.Errorf("New with MaxOpenSpans -1: got %v, want an error naming the field", err)
	}
}

func TestTLSSettings(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := selfSigned(t)
	files := map[string][]byte{"/ca.pem": certPEM, "/cert.pem": certPEM, "/key.pem": keyPEM, "/junk": []byte("not pem")}
	readFile := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}
	read := func(vars map[string]string) (*settings, error) {
		s, err := readSettings(envReader{lookup: env(vars), readFile: readFile})
		return &s, err
	}

	s, err := read(map[string]string{
		"OTEL_EXPORTER_OTLP_CERTIFICATE":               "/ca.pem",
		"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "/cert.pem",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY":                "/key.pem",
	})
	if err != nil {
		t.Fatalf("readSettings: %v", err)
	}
	if s.tls == nil || s.tls.RootCAs == nil || len(s.tls.Certificates) != 1 {
		t.Errorf("tls config %+v: want a root pool and one client certificate", s.tls)
	}
	if s, err := read(nil); err != nil || s.tls != nil {
		t.Errorf("no files named: tls %v, err %v; want nil, nil", s.tls, err)
	}

	for _, c := range []struct {
		vars     map[string]string
		wantName string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/missing"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/junk"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/cert.pem"}, "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/cert.pem", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/junk"}, "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
	} {
		if _, err := read(c.vars); err == nil || !strings.Contains(err.Error(), c.wantName) {
			t.Errorf("%v: got %v, want an error naming %s", c.vars, err, c.wantName)
		}
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestProxySettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		vars   map[string]string
		target string
		want   string
	}{
		{nil, "https://collector:4318/v1/traces", ""},
		{map[string]string{"HTTPS_PROXY": "http://proxy:3128"}, "https://collector:4318/v1/traces", "http://proxy:3128"},
		{map[string]string{"https_proxy": "http://lower:3128"}, "https://collector:4318/v1/traces", "http://lower:3128"},
		{map[string]string{"HTTP_PROXY": "http://proxy:3128"}, "http://collector:4318/v1/traces", "http://proxy:3128"},
		{map[string]string{"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "collector"}, "http://collector:4318/v1/traces", ""},
	}
	for _, c := range cases {
		s, err := readSettings(envReader{lookup: env(c.vars)})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, c.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.proxy(req)
		got := ""
		if u != nil {
			got = u.String()
		}
		if err != nil || got != c.want {
			t.Errorf("%v, %s: proxy %q, %v; want %q", c.vars, c.target, got, err, c.want)
		}
	}
}

func TestNewWithSpanExporter(t *testing.T) {
	t.Parallel()
	mem := tracetest.NewInMemoryExporter()
	x, err := New(t.Context(), Config{
		SpanExporter:   keepOnShutdown{mem},
		ServiceName:    "code-name",
		ServiceVersion: "0.9.0",
		LookupFunc: env(map[string]string{
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,team=ai",
			"OTEL_TRACES_SAMPLER":      "always_on",
		}),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sc := newScenario("mem")
	appendAll(t, x.Wrap(memstore.New()), []*telemetry.Event{sc.userMessage(), sc.finalAnswer(1, 2)})
	// The batch processor holds spans until Shutdown flushes them.
	if err := x.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	stubs := mem.GetSpans()
	if len(stubs) != 1 || stubs[0].Name != SpanAgentRun {
		t.Fatalf("got %d spans, want one agent.run", len(stubs))
	}
	got := map[string]string{}
	for _, kv := range stubs[0].Resource.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	want := map[string]string{"service.name": "from-attributes", "service.version": "0.9.0", "team": "ai"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("resource %s = %q, want %q", k, got[k], v)
		}
	}
	if s := stubs[0].InstrumentationScope; s.Name != tracerName || s.Version != "0.9.0" {
		t.Errorf("scope %+v, want %s 0.9.0", s, tracerName)
	}
}

// keepOnShutdown keeps the in-memory exporter's spans past Shutdown,
// which would otherwise reset it.
type keepOnShutdown struct {
	*tracetest.InMemoryExporter
}

func (keepOnShutdown) Shutdown(context.Context) error { return nil }

// failingExporter is a partial fake whose exports fail while err is set.
type failingExporter struct {
	sdktrace.SpanExporter
	err error
}

func (f *failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return f.err }

func TestExportFailuresAreLogged(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	fake := &failingExporter{err: errors.New("connection refused")}
	l := &loggedExporter{SpanExporter: fake, logger: logger}
	for _, fail := range []bool{true, true, false, false, true} {
		fake.err = nil
		if fail {
			fake.err = errors.New("connection refused")
		}
		if err := l.ExportSpans(t.Context(), nil); err != nil {
			t.Errorf("ExportSpans returned %v; failures are logged, not returned", err)
		}
	}
	want := `level=WARN msg="export spans" spans=0 error="connection refused"
level=DEBUG msg="export spans" spans=0 error="connection refused"
level=INFO msg="span export recovered"
level=WARN msg="export spans" spans=0 error="connection refused"
`
	if diff := cmp.Diff(want, logs.String()); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
}
