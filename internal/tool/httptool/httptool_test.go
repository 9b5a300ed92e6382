package httptool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/tool"
)

// Secrets the tests put in variables; none may appear in an error or log.
const (
	secretToken = "tok-5f3a9c1e"
	secretKey   = "key-82b7d4aa"
)

// testEnv is the variables the tests can reference.
var testEnv = map[string]string{"TOKEN": secretToken, "API_KEY": secretKey, "EMPTY": ""}

func lookupTestEnv(k string) (string, bool) {
	v, ok := testEnv[k]
	return v, ok
}

// newTool builds a tool from cfg, naming it "t" unless cfg names it, and
// closes its idle connections when the test ends.
func newTool(t *testing.T, cfg Config) tool.Tool {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "t"
	}
	if cfg.LookupEnvFunc == nil {
		cfg.LookupEnvFunc = lookupTestEnv
	}
	tl, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(tl.(*httpTool).client.CloseIdleConnections)
	return tl
}

// request is what a test server saw.
type request struct {
	Method      string
	Path        string
	Query       url.Values
	ContentType string
	Header      http.Header
	Body        string
}

// recorder is a test server that records requests and answers with a
// fixed status and body.
type recorder struct {
	*httptest.Server

	status int
	body   string

	mu   sync.Mutex
	reqs []request
}

func newRecorder(t *testing.T, status int, body string) *recorder {
	t.Helper()
	rec := &recorder{status: status, body: body}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, request{
			Method:      r.Method,
			Path:        r.URL.Path,
			Query:       r.URL.Query(),
			ContentType: r.Header.Get("Content-Type"),
			Header:      r.Header.Clone(),
			Body:        string(b),
		})
		rec.mu.Unlock()
		w.WriteHeader(rec.status)
		_, _ = io.WriteString(w, rec.body)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// last returns the last request seen.
func (rec *recorder) last(t *testing.T) request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("server saw no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// count returns how many requests the server saw.
func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// checkNoSecrets fails the test if text holds a secret or a query string.
func checkNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{secretToken, secretKey, "api_key=", "?"} {
		if strings.Contains(text, s) {
			t.Errorf("%s contains %q: %q", what, s, text)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		cfg     Config
		wantErr string // empty means success
	}{
		{name: "minimal", cfg: Config{Name: "t", URL: "http://example.com/api"}},
		{name: "lower-case method", cfg: Config{Name: "t", URL: "http://example.com", Method: "patch"}},
		{name: "variables", cfg: Config{Name: "t", URL: "https://example.com/${API_KEY}?k=${API_KEY}", Headers: map[string]string{"Authorization": "Bearer ${TOKEN}"}, LookupEnvFunc: lookupTestEnv}},
		{name: "lone dollar", cfg: Config{Name: "t", URL: "http://example.com/$1", Headers: map[string]string{"X-Price": "$5"}}},
		{name: "no name", cfg: Config{URL: "http://example.com"}, wantErr: "Name must not be empty"},
		{name: "no URL", cfg: Config{Name: "t"}, wantErr: "invalid URL: must not be empty"},
		{name: "bad scheme", cfg: Config{Name: "t", URL: "file:///etc/passwd"}, wantErr: "scheme must be http or https"},
		{name: "no host", cfg: Config{Name: "t", URL: "http:///path"}, wantErr: "no host"},
		{name: "unparsable URL", cfg: Config{Name: "t", URL: "http://exa mple.com/"}, wantErr: "invalid URL"},
		{name: "bad query", cfg: Config{Name: "t", URL: "http://example.com/?a=%zz"}, wantErr: "malformed query string"},
		{name: "bad method", cfg: Config{Name: "t", URL: "http://example.com", Method: "HEAD"}, wantErr: `invalid Method "HEAD"`},
		{name: "negative timeout", cfg: Config{Name: "t", URL: "http://example.com", Timeout: -time.Second}, wantErr: "invalid Timeout"},
		{name: "negative cap", cfg: Config{Name: "t", URL: "http://example.com", MaxResponseBytes: -1}, wantErr: "invalid MaxResponseBytes"},
		{name: "schema not JSON", cfg: Config{Name: "t", URL: "http://example.com", Parameters: json.RawMessage(`[`)}, wantErr: "parse Parameters"},
		{name: "schema not an object", cfg: Config{Name: "t", URL: "http://example.com", Parameters: json.RawMessage(`{"type":"array"}`)}, wantErr: `"type" must be "object"`},
		{name: "schema with unresolvable ref", cfg: Config{Name: "t", URL: "http://example.com", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"#/$defs/nope"}}}`)}, wantErr: "resolve Parameters"},
		{name: "unset URL variable", cfg: Config{Name: "t", URL: "http://example.com/?k=${MISSING_KEY}", LookupEnvFunc: lookupTestEnv}, wantErr: "variable is not set: MISSING_KEY"},
		{name: "empty URL variable", cfg: Config{Name: "t", URL: "http://example.com/?k=${EMPTY}", LookupEnvFunc: lookupTestEnv}, wantErr: "variable is not set: EMPTY"},
		{name: "no lookup", cfg: Config{Name: "t", URL: "http://example.com/?k=${API_KEY}"}, wantErr: "variable is not set: API_KEY"},
		{name: "unset header variable", cfg: Config{Name: "t", URL: "http://example.com", Headers: map[string]string{"X-Key": "${MISSING_KEY}"}, LookupEnvFunc: lookupTestEnv}, wantErr: "expand header X-Key: variable is not set: MISSING_KEY"},
		{name: "unterminated reference", cfg: Config{Name: "t", URL: "http://example.com/${API_KEY"}, wantErr: "unterminated ${"},
		{name: "bad variable name", cfg: Config{Name: "t", URL: "http://example.com/${1X}"}, wantErr: `invalid variable name "1X"`},
		{name: "bad header name", cfg: Config{Name: "t", URL: "http://example.com", Headers: map[string]string{"X Key": "v"}}, wantErr: `bad header name "X Key"`},
		{name: "header value with line break", cfg: Config{Name: "t", URL: "http://example.com", Headers: map[string]string{"X-Key": "a\r\nX-Evil: 1"}}, wantErr: "value of X-Key contains a line break"},
		{name: "unguardable transport", cfg: Config{Name: "t", URL: "http://example.com", HTTPClient: &http.Client{Transport: roundTripFunc(nil)}}, wantErr: "cannot be guarded"},
		{name: "unguardable TLS dialer", cfg: Config{Name: "t", URL: "http://example.com", HTTPClient: &http.Client{Transport: &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) { return nil, nil }}}}, wantErr: "dials TLS itself"},
		{name: "any transport when private allowed", cfg: Config{Name: "t", URL: "http://example.com", AllowPrivate: true, HTTPClient: &http.Client{Transport: roundTripFunc(nil)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				tl.(*httpTool).client.CloseIdleConnections()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper that is not an *http.Transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestNewErrorsHideValues checks that errors about expanded values name the
// variable or header but never quote the value.
func TestNewErrorsHideValues(t *testing.T) {
	t.Parallel()

	lookup := func(k string) (string, bool) {
		switch k {
		case "BROKEN_HOST":
			return "exa mple-" + secretKey, true
		case "CRLF":
			return secretToken + "\r\nX-Evil: 1", true
		}
		return "", false
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "URL unparsable after expansion", cfg: Config{URL: "http://${BROKEN_HOST}/"}, wantErr: "invalid URL after expanding its variables"},
		{name: "header value with line break", cfg: Config{URL: "http://example.com", Headers: map[string]string{"Authorization": "${CRLF}"}}, wantErr: "value of Authorization contains a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Name, cfg.LookupEnvFunc = "t", lookup
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
			checkNoSecrets(t, "error", err.Error())
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		parameters json.RawMessage
		wantSchema string
	}{
		{name: "default", wantSchema: `{"type":"object","properties":{}}`},
		{
			name:       "given",
			parameters: json.RawMessage(`{ "type": "object", "properties": { "q": { "type": "string" } } }`),
			wantSchema: `{"type":"object","properties":{"q":{"type":"string"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{Name: "weather", Description: "Get the weather.", URL: "http://example.com", Parameters: tt.parameters})
			got := []string{tl.Name(), tl.Description(), tl.Kind(), string(tl.InputSchema())}
			want := []string{"weather", "Get the weather.", tool.KindLocal, tt.wantSchema}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("description mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallQuery(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		method string
		url    string
		args   string
		want   url.Values
	}{
		{
			name:   "scalars, nested values and nulls",
			method: http.MethodGet,
			args:   `{"q": "go lang & more", "limit": 10, "ratio": 1.5, "exact": true, "tags": ["a", "b"], "filter": {"x": 1}, "none": null}`,
			want: url.Values{
				"q": {"go lang & more"}, "limit": {"10"}, "ratio": {"1.5"}, "exact": {"true"},
				"tags": {`["a","b"]`}, "filter": {`{"x":1}`},
			},
		},
		{name: "no arguments", method: http.MethodGet, args: ``, want: url.Values{}},
		{
			name:   "fixed parameters kept",
			method: http.MethodGet,
			url:    "/search?api_key=${API_KEY}&v=2",
			args:   `{"q": "x"}`,
			want:   url.Values{"api_key": {secretKey}, "v": {"2"}, "q": {"x"}},
		},
		{name: "delete", method: http.MethodDelete, url: "/items", args: `{"id": 42}`, want: url.Values{"id": {"42"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, http.StatusOK, "found it")
			tl := newTool(t, Config{URL: srv.URL + tt.url, Method: tt.method})
			got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got != "found it" {
				t.Errorf("Call = %q, want %q", got, "found it")
			}
			req := srv.last(t)
			if req.Method != tt.method || req.Body != "" || req.ContentType != "" {
				t.Errorf("request = %s with body %q and Content-Type %q, want %s without a body", req.Method, req.Body, req.ContentType, tt.method)
			}
			if diff := cmp.Diff(tt.want, req.Query); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallQueryFixedParameter(t *testing.T) {
	t.Parallel()

	srv := newRecorder(t, http.StatusOK, "")
	tl := newTool(t, Config{URL: srv.URL + "/search?api_key=${API_KEY}"})
	_, err := tl.Call(t.Context(), json.RawMessage(`{"api_key": "mine"}`))
	if err == nil || !strings.Contains(err.Error(), `argument "api_key" is fixed by the tool's URL`) {
		t.Fatalf("Call error = %v, want the fixed-parameter error", err)
	}
	if n := srv.count(); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestCallBody(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name            string
		method          string
		headers         map[string]string
		args            string
		wantBody        string
		wantContentType string
	}{
		{name: "post", method: http.MethodPost, args: "{\n  \"title\": \"hi\",\n  \"n\": [1, 2]\n}", wantBody: `{"title":"hi","n":[1,2]}`, wantContentType: "application/json"},
		{name: "put", method: http.MethodPut, args: `{"a": 1}`, wantBody: `{"a":1}`, wantContentType: "application/json"},
		{name: "patch without arguments", method: http.MethodPatch, args: ``, wantBody: `{}`, wantContentType: "application/json"},
		{name: "configured content type", method: http.MethodPost, headers: map[string]string{"Content-Type": "application/vnd.api+json"}, args: `{}`, wantBody: `{}`, wantContentType: "application/vnd.api+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, http.StatusCreated, `{"id":7}`)
			tl := newTool(t, Config{URL: srv.URL + "/items?v=1", Method: tt.method, Headers: tt.headers})
			got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got != `{"id":7}` {
				t.Errorf("Call = %q, want %q", got, `{"id":7}`)
			}
			req := srv.last(t)
			want := request{Method: tt.method, Path: "/items", Query: url.Values{"v": {"1"}}, ContentType: tt.wantContentType, Body: tt.wantBody}
			req.Header = nil
			if diff := cmp.Diff(want, req); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallHeaders(t *testing.T) {
	t.Parallel()

	srv := newRecorder(t, http.StatusOK, "ok")
	tl := newTool(t, Config{
		URL:     srv.URL,
		Headers: map[string]string{"Authorization": "Bearer ${TOKEN}", "x-static": "plain", "X-Price": "$5"},
	})
	if _, err := tl.Call(t.Context(), nil); err != nil {
		t.Fatalf("Call: %v", err)
	}
	h := srv.last(t).Header
	got := []string{h.Get("Authorization"), h.Get("X-Static"), h.Get("X-Price")}
	want := []string{"Bearer " + secretToken, "plain", "$5"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
}

func TestCallHTTPS(t *testing.T) {
	t.Parallel()

	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	t.Cleanup(srv.Close)
	// The server's client trusts its certificate; the tool guards a clone
	// of its transport and keeps the TLS settings.
	tl := newTool(t, Config{URL: srv.URL, HTTPClient: srv.Client()})
	got, err := tl.Call(t.Context(), nil)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got != "secure" {
		t.Errorf("Call = %q, want %q", got, "secure")
	}
}

func TestCallStatusError(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("x", 600)
	tests := []struct {
		name   string
		status int
		body   string
		want   string // the error after the host
	}{
		{name: "not found", status: http.StatusNotFound, body: "no such item\n", want: ": no such item"},
		{name: "empty body", status: http.StatusInternalServerError, want: ""},
		{name: "unknown status", status: 599, body: "odd", want: ": odd"},
		{name: "long body", status: http.StatusBadGateway, body: long, want: ": " + long[:errorBodyBytes]},
		{
			name:   "echoed secrets scrubbed",
			status: http.StatusUnauthorized,
			body:   "bad token " + secretToken + " for key " + secretKey,
			want:   ": bad token [REDACTED] for key [REDACTED]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, tt.status, tt.body)
			tl := newTool(t, Config{
				URL:     srv.URL + "/v1/things?api_key=${API_KEY}",
				Headers: map[string]string{"Authorization": "Bearer ${TOKEN}"},
			})
			_, err := tl.Call(t.Context(), nil)
			if err == nil {
				t.Fatal("Call succeeded, want an error")
			}
			status := strings.TrimSpace(strconv.Itoa(tt.status) + " " + http.StatusText(tt.status))
			want := "HTTP " + status + " from " + srv.Listener.Addr().String() + tt.want
			if err.Error() != want {
				t.Errorf("Call error = %q, want %q", err, want)
			}
			checkNoSecrets(t, "error", err.Error())
			if strings.Contains(err.Error(), "/v1/things") {
				t.Errorf("error quotes the path: %q", err)
			}
		})
	}
}

func TestCallResponseCap(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		body string
		max  int64
		want string
	}{
		{name: "under", body: "short", max: 10, want: "short"},
		{name: "exactly", body: "0123456789", max: 10, want: "0123456789"},
		{name: "over", body: "0123456789abcdef", max: 10, want: "0123456789\n[response truncated: body exceeds 10 bytes]"},
		{name: "cut inside a character", body: "abc\u00e9\u00e9", max: 4, want: "abc\n[response truncated: body exceeds 4 bytes]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, http.StatusOK, tt.body)
			tl := newTool(t, Config{URL: srv.URL, MaxResponseBytes: tt.max})
			got, err := tl.Call(t.Context(), nil)
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got != tt.want {
				t.Errorf("Call = %q, want %q", got, tt.want)
			}
		})
	}
}

// newHangingServer returns a server whose handler answers only once the
// client has gone.
func newHangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()

	srv := newHangingServer(t)
	tl := newTool(t, Config{URL: srv.URL + "/slow?api_key=${API_KEY}", Timeout: 20 * time.Millisecond})
	_, err := tl.Call(t.Context(), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 20ms") {
		t.Fatalf("Call error = %v, want a timeout", err)
	}
	checkNoSecrets(t, "error", err.Error())
}

func TestCallCancelled(t *testing.T) {
	t.Parallel()

	srv := newHangingServer(t)
	tl := newTool(t, Config{URL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := tl.Call(ctx, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Call error = %v, want a cancellation", err)
	}
}

func TestCallTransportError(t *testing.T) {
	t.Parallel()

	// A listener closed at once leaves a loopback port nobody answers on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	tl := newTool(t, Config{URL: "http://" + addr + "/x?api_key=${API_KEY}"})
	_, err = tl.Call(t.Context(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "tool t: GET "+addr+": ") {
		t.Fatalf("Call error = %v, want a GET error naming %s", err, addr)
	}
	checkNoSecrets(t, "error", err.Error())
}

func TestCallRefused(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		url  string
		want string
	}{
		{name: "metadata address", url: "http://169.254.169.254/latest/meta-data?token=${TOKEN}", want: "169.254.169.254 is a link-local address"},
		{name: "other link-local address", url: "http://169.254.10.20:8080/", want: "169.254.10.20 is a link-local address"},
		{name: "mapped link-local address", url: "http://[::ffff:169.254.169.254]/", want: "169.254.169.254 is a link-local address"},
		{name: "GCP metadata name", url: "http://metadata.google.internal/computeMetadata/v1/", want: "metadata.google.internal is a cloud metadata host"},
		{name: "short metadata name", url: "http://Metadata./", want: "Metadata. is a cloud metadata host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{URL: tt.url})
			_, err := tl.Call(t.Context(), nil)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Call error = %v, want a refusal saying %q", err, tt.want)
			}
			checkNoSecrets(t, "error", err.Error())
		})
	}
}

// TestCallRedirectRefused checks the guard applies to redirects: the
// loopback server is allowed, the metadata address it points to is not.
func TestCallRedirectRefused(t *testing.T) {
	t.Parallel()

	srv := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusFound))
	t.Cleanup(srv.Close)
	tl := newTool(t, Config{URL: srv.URL})
	_, err := tl.Call(t.Context(), nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "169.254.169.254 is a link-local address") {
		t.Fatalf("Call error = %v, want a refusal", err)
	}
}

// errNoDial is what the stand-in dialer of the AllowPrivate tests returns.
var errNoDial = errors.New("test dialer: not connecting")

// noDialClient is a client whose transport never connects.
func noDialClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errNoDial },
	}}
}

func TestCallAllowPrivate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		wantRefused  bool
	}{
		{name: "metadata address allowed", url: "http://169.254.169.254/latest/meta-data", allowPrivate: true},
		{name: "metadata name allowed", url: "http://metadata.google.internal/", allowPrivate: true},
		// Without AllowPrivate the client's own dialer is replaced by the guard.
		{name: "custom transport still guarded", url: "http://169.254.169.254/latest/meta-data", wantRefused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{URL: tt.url, AllowPrivate: tt.allowPrivate, HTTPClient: noDialClient()})
			_, err := tl.Call(t.Context(), nil)
			if got := errors.Is(err, ErrRefused); got != tt.wantRefused {
				t.Fatalf("Call error = %v; refused = %v, want %v", err, got, tt.wantRefused)
			}
			if !tt.wantRefused && !errors.Is(err, errNoDial) {
				t.Fatalf("Call error = %v, want the stand-in dialer's", err)
			}
		})
	}
}

// newRedirectChain returns a server where /r/N redirects to /r/N-1 and
// /r/0 answers "end".
func newRedirectChain(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if n == 0 {
			_, _ = io.WriteString(w, "end")
			return
		}
		http.Redirect(w, r, "/r/"+strconv.Itoa(n-1), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCallRedirectLimit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		redirects int
		wantErr   bool
	}{
		{redirects: 1},
		{redirects: maxRedirects},
		{redirects: maxRedirects + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.redirects), func(t *testing.T) {
			t.Parallel()
			srv := newRedirectChain(t)
			tl := newTool(t, Config{URL: srv.URL + "/r/" + strconv.Itoa(tt.redirects)})
			got, err := tl.Call(t.Context(), nil)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "stopped after 5 redirects") {
					t.Fatalf("Call = %q, %v; want the redirect limit error", got, err)
				}
				return
			}
			if err != nil || got != "end" {
				t.Fatalf("Call = %q, %v; want %q", got, err, "end")
			}
		})
	}
}

// TestCallRedirectDropsHeaders checks configured headers follow a redirect
// on the same host but not one to another host.
func TestCallRedirectDropsHeaders(t *testing.T) {
	t.Parallel()

	other := newRecorder(t, http.StatusOK, "elsewhere")
	same := newRecorder(t, http.StatusOK, "here")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		case "/stay":
			http.Redirect(w, r, "/landing", http.StatusFound)
		default:
			same.Config.Handler.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		path    string
		server  *recorder
		wantKey string
	}{
		{path: "/away", server: other, wantKey: ""},
		{path: "/stay", server: same, wantKey: secretKey},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{URL: srv.URL + tt.path, Headers: map[string]string{"X-Api-Key": "${API_KEY}"}})
			if _, err := tl.Call(t.Context(), nil); err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got := tt.server.last(t).Header.Get("X-Api-Key"); got != tt.wantKey {
				t.Errorf("X-Api-Key after redirect = %q, want %q", got, tt.wantKey)
			}
		})
	}
}

func TestCallInvalidArguments(t *testing.T) {
	t.Parallel()

	srv := newRecorder(t, http.StatusOK, "")
	schema := json.RawMessage(`{
		"type": "object",
		"properties": {"city": {"type": "string", "minLength": 1}, "days": {"type": "integer"}},
		"required": ["city"],
		"additionalProperties": false
	}`)
	tl := newTool(t, Config{URL: srv.URL, Method: http.MethodPost, Parameters: schema})
	tests := []struct {
		name    string
		args    string
		wantErr string
	}{
		{name: "not JSON", args: `{"city"`, wantErr: "decode arguments"},
		{name: "missing required", args: `{"days": 2}`, wantErr: "invalid arguments"},
		{name: "too short", args: `{"city": ""}`, wantErr: "invalid arguments"},
		{name: "wrong type", args: `{"city": "Oslo", "days": "two"}`, wantErr: "invalid arguments"},
		{name: "unknown property", args: `{"city": "Oslo", "hours": 1}`, wantErr: "invalid arguments"},
		{name: "not an object", args: `"Oslo"`, wantErr: "invalid arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Call error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if n := srv.count(); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestCallLogsNoSecrets(t *testing.T) {
	t.Parallel()

	srv := newRecorder(t, http.StatusOK, "ok")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tl := newTool(t, Config{
		URL:     srv.URL + "/private/path?api_key=${API_KEY}",
		Headers: map[string]string{"Authorization": "Bearer ${TOKEN}"},
		Logger:  logger,
	})
	if _, err := tl.Call(t.Context(), json.RawMessage(`{"q":"x"}`)); err != nil {
		t.Fatalf("Call: %v", err)
	}
	got := logs.String()
	if !strings.Contains(got, "http tool call finished") || !strings.Contains(got, "component=httptool") || !strings.Contains(got, "status=200") {
		t.Errorf("missing call record: %q", got)
	}
	checkNoSecrets(t, "log", got)
	if strings.Contains(got, "/private/path") {
		t.Errorf("log quotes the path: %q", got)
	}
}

func TestRefusedAddr(t *testing.T) {
	t.Parallel()

	tests := []struct {
		addr string
		want string
	}{
		{addr: "169.254.169.254", want: "a link-local address"},
		{addr: "169.254.0.1", want: "a link-local address"},
		{addr: "fe80::1", want: "a link-local address"},
		{addr: "fe80::1%eth0", want: "a link-local address"},
		{addr: "febf::1", want: "a link-local address"},
		{addr: "::ffff:169.254.169.254", want: "a link-local address"},
		{addr: "fd00:ec2::254", want: "a cloud metadata address"},
		{addr: "127.0.0.1"},
		{addr: "::1"},
		{addr: "10.1.2.3"},
		{addr: "172.16.0.1"},
		{addr: "192.168.1.1"},
		{addr: "fc00::1"},
		{addr: "fec0::1"},
		{addr: "8.8.8.8"},
		{addr: "169.253.255.255"},
		{addr: "169.255.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := refusedAddr(mustParseAddr(t, tt.addr)); got != tt.want {
				t.Errorf("refusedAddr(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestRefusedHost(t *testing.T) {
	t.Parallel()

	tests := []struct {
		host string
		want string
	}{
		{host: "metadata", want: "a cloud metadata host"},
		{host: "METADATA.", want: "a cloud metadata host"},
		{host: "metadata.google.internal", want: "a cloud metadata host"},
		{host: "Metadata.Google.Internal.", want: "a cloud metadata host"},
		{host: "metadata.example.com"},
		{host: "localhost"},
		{host: "169.254.169.254"}, // addresses are judged at dial time
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			if got := refusedHost(tt.host); got != tt.want {
				t.Errorf("refusedHost(%s) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

// TestGuardedDialerRefusesBeforeConnecting dials a link-local address
// through the guard: the refusal comes from the control hook, so no
// connection attempt is made and the call returns at once.
func TestGuardedDialerRefusesBeforeConnecting(t *testing.T) {
	t.Parallel()

	dial := guardedDialer()
	tests := []string{"169.254.169.254:80", "metadata.google.internal:80"}
	for _, addr := range tests {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			conn, err := dial(t.Context(), "tcp4", addr)
			if conn != nil {
				_ = conn.Close()
			}
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("dial %s error = %v, want ErrRefused", addr, err)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in         string
		want       string
		wantValues []string
		wantErr    string
	}{
		{in: "plain", want: "plain"},
		{in: "", want: ""},
		{in: "Bearer ${TOKEN}", want: "Bearer " + secretToken, wantValues: []string{secretToken}},
		{in: "${TOKEN}:${API_KEY}", want: secretToken + ":" + secretKey, wantValues: []string{secretToken, secretKey}},
		{in: "$TOKEN and $5 and $", want: "$TOKEN and $5 and $"},
		{in: "${MISSING}", wantErr: "variable is not set: MISSING"},
		{in: "${EMPTY}", wantErr: "variable is not set: EMPTY"},
		{in: "${}", wantErr: `invalid variable name ""`},
		{in: "${A-B}", wantErr: `invalid variable name "A-B"`},
		{in: "${TOKEN", wantErr: "unterminated ${"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, values, err := expand(tt.in, lookupTestEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expand(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("expand(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(tt.wantValues, values); diff != "" {
				t.Errorf("expand(%q) values mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if _, _, err := expand("${TOKEN}", nil); !errors.Is(err, ErrUnsetVariable) {
		t.Errorf("expand with a nil lookup error = %v, want ErrUnsetVariable", err)
	}
}

func TestRedactable(t *testing.T) {
	t.Parallel()

	got := redactable([]string{"abc", "api.example.com", "longer-secret", "token-1", "token-1"}, "api.example.com:443")
	want := []string{"longer-secret", "token-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("redactable mismatch (-want +got):\n%s", diff)
	}
}

func TestCutAtRune(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want string
	}{
		{in: "", want: ""},
		{in: "abc", want: "abc"},
		{in: "ab\u00e9", want: "ab\u00e9"},
		{in: "ab\xc3", want: "ab"},
		{in: "a\xe2\x82", want: "a"},
		{in: "\xf0\x9f\x98", want: ""},
		{in: "\xf0\x9f\x98\x80", want: "\xf0\x9f\x98\x80"},
		{in: "bin\xff", want: "bin\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := string(cutAtRune([]byte(tt.in))); got != tt.want {
				t.Errorf("cutAtRune(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func mustParseAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return a
}
