package httptool

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/omniserve/omniserve/internal/tool"
)

const (
	defaultTimeout          = 30 * time.Second
	defaultMaxResponseBytes = 1 << 20

	// maxRedirects is how many redirects a call follows.
	maxRedirects = 5
	// errorBodyBytes is how much of a failed response's body its error quotes.
	errorBodyBytes = 500
	// minRedactBytes is the shortest expanded value scrubbed from quoted
	// bodies; shorter ones would blank out ordinary text.
	minRedactBytes = 4
)

// methods are the accepted request methods.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// errTimedOut is the cause recorded when a call outlives its timeout.
var errTimedOut = errors.New("timed out")

// Config describes one HTTP tool.
type Config struct {
	// Name is the tool's name, unique within a registry. Required.
	Name string
	// Description tells the model what the tool does. Defaults to "".
	Description string
	// URL is the endpoint, http or https. ${NAME} references are expanded
	// through LookupEnvFunc. Query parameters in it are fixed: an argument
	// of the same name is refused. Required.
	URL string
	// Method is GET, POST, PUT, PATCH or DELETE, in any case. Defaults to GET.
	Method string
	// Headers are sent with every request to the configured host (a
	// redirect to another host drops them). ${NAME} references in values
	// are expanded through LookupEnvFunc. Values never appear in errors or
	// logs. A Content-Type here replaces the default application/json.
	// Defaults to none.
	Headers map[string]string
	// Parameters is the JSON Schema of the arguments object. Its top-level
	// type must be "object". Defaults to {"type":"object","properties":{}}.
	Parameters json.RawMessage
	// Timeout bounds one call, redirects and reading the body included.
	// Defaults to 30s.
	Timeout time.Duration
	// MaxResponseBytes caps the response body the model reads; a longer
	// body is cut there and ends with a note saying so. Defaults to 1 MiB.
	MaxResponseBytes int64
	// AllowPrivate lifts the network guard described in the package
	// documentation, allowing link-local and cloud metadata destinations.
	// Defaults to false.
	AllowPrivate bool
	// LookupEnvFunc resolves ${NAME} references, once, in New. A variable
	// that is missing or empty is an error. Defaults to nil: no variables.
	LookupEnvFunc func(key string) (string, bool)
	// HTTPClient sends the requests. The tool uses a copy with its own
	// redirect policy (at most 5 redirects) and, unless AllowPrivate, a
	// clone of its *http.Transport that dials through the guard without a
	// proxy. Defaults to a client built on a clone of
	// [http.DefaultTransport], without proxy.
	HTTPClient *http.Client
	// Logger receives one debug record per call. Defaults to discarding.
	Logger *slog.Logger
}

// httpTool is a [tool.Tool] that sends one request per call.
type httpTool struct {
	name        string
	description string
	schema      json.RawMessage
	resolved    *jsonschema.Resolved
	method      string
	url         *url.URL
	fixedQuery  url.Values // parameters set by the configured URL
	headers     http.Header
	secrets     []string // expanded values, scrubbed from quoted bodies
	timeout     time.Duration
	maxBody     int64
	client      *http.Client
	logger      *slog.Logger
}

var _ tool.Tool = (*httpTool)(nil)

// New validates cfg and returns a local tool that sends one request per
// call. The arguments, validated against cfg.Parameters, are sent as the
// query string of a GET or DELETE request (strings as they are, numbers and
// booleans in their JSON spelling, objects and arrays as JSON text, nulls
// omitted) or as the JSON body of a POST, PUT or PATCH request.
//
// The result is the response body, cut at cfg.MaxResponseBytes with a note
// saying so. A status outside 2xx is an error of the form "HTTP 404 Not
// Found from api.example.com: <start of the body>"; transport errors,
// timeouts and cancellation are errors too. Errors name the host, never the
// path or query string, which may hold secrets.
func New(cfg Config) (tool.Tool, error) {
	if cfg.Name == "" {
		return nil, errors.New("http tool: Name must not be empty")
	}
	cfg = withDefaults(cfg)
	t := &httpTool{
		name:        cfg.Name,
		description: cfg.Description,
		method:      strings.ToUpper(cfg.Method),
		timeout:     cfg.Timeout,
		maxBody:     cfg.MaxResponseBytes,
		logger:      cfg.Logger.With(slog.String("component", "httptool"), slog.String("tool", cfg.Name)),
	}
	if err := t.configure(cfg); err != nil {
		return nil, fmt.Errorf("http tool %s: %w", cfg.Name, err)
	}
	return t, nil
}

// withDefaults fills the zero fields of cfg.
func withDefaults(cfg Config) Config {
	cfg.Method = cmp.Or(cfg.Method, http.MethodGet)
	cfg.Timeout = cmp.Or(cfg.Timeout, defaultTimeout)
	cfg.MaxResponseBytes = cmp.Or(cfg.MaxResponseBytes, defaultMaxResponseBytes)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// configure checks cfg and fills the rest of t from it.
func (t *httpTool) configure(cfg Config) error {
	if !slices.Contains(methods, t.method) {
		return fmt.Errorf("invalid Method %q: want one of %s", cfg.Method, strings.Join(methods, ", "))
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("invalid Timeout: must not be negative, got %s", cfg.Timeout)
	}
	if cfg.MaxResponseBytes < 0 {
		return fmt.Errorf("invalid MaxResponseBytes: must not be negative, got %d", cfg.MaxResponseBytes)
	}
	var err error
	if t.schema, t.resolved, err = compileSchema(cfg.Parameters); err != nil {
		return err
	}
	var urlSecrets, headerSecrets []string
	if t.url, t.fixedQuery, urlSecrets, err = parseURL(cfg.URL, cfg.LookupEnvFunc); err != nil {
		return err
	}
	if t.headers, headerSecrets, err = parseHeaders(cfg.Headers, cfg.LookupEnvFunc); err != nil {
		return err
	}
	t.secrets = redactable(slices.Concat(urlSecrets, headerSecrets), t.url.Host)
	t.client, err = newClient(cfg.HTTPClient, cfg.AllowPrivate, t.checkRedirect)
	return err
}

// compileSchema parses and resolves a parameters schema, returning it in
// compact form. Empty or null means an object with no declared properties.
func compileSchema(raw json.RawMessage) (json.RawMessage, *jsonschema.Resolved, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("parse Parameters: %w", err)
	}
	if s.Type != "object" {
		return nil, nil, errors.New(`invalid Parameters: top-level "type" must be "object"`)
	}
	resolved, err := s.Resolve(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve Parameters: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, nil, fmt.Errorf("compact Parameters: %w", err)
	}
	return buf.Bytes(), resolved, nil
}

// parseURL expands and parses the configured URL. Once a variable has been
// expanded, parse errors no longer quote the URL or its parts, which could
// hold the variable's value.
func parseURL(raw string, lookup func(string) (string, bool)) (*url.URL, url.Values, []string, error) {
	if raw == "" {
		return nil, nil, nil, errors.New("invalid URL: must not be empty")
	}
	expanded, secrets, err := expand(raw, lookup)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("expand URL: %w", err)
	}
	u, err := url.Parse(expanded)
	if err != nil {
		if len(secrets) > 0 {
			return nil, nil, nil, errors.New("invalid URL after expanding its variables")
		}
		return nil, nil, nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, nil, nil, errors.New("invalid URL: scheme must be http or https")
	}
	if u.Host == "" {
		return nil, nil, nil, errors.New("invalid URL: no host")
	}
	u.Fragment, u.RawFragment = "", ""
	fixed, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, nil, nil, errors.New("invalid URL: malformed query string")
	}
	return u, fixed, secrets, nil
}

// parseHeaders expands and checks the configured headers. Errors name the
// header, never its value.
func parseHeaders(in map[string]string, lookup func(string) (string, bool)) (http.Header, []string, error) {
	h := make(http.Header, len(in))
	var secrets []string
	for _, name := range slices.Sorted(maps.Keys(in)) {
		if !validHeaderName(name) {
			return nil, nil, fmt.Errorf("invalid Headers: bad header name %q", name)
		}
		v, values, err := expand(in[name], lookup)
		if err != nil {
			return nil, nil, fmt.Errorf("expand header %s: %w", name, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, nil, fmt.Errorf("invalid Headers: value of %s contains a line break or NUL byte", name)
		}
		h.Set(name, v)
		secrets = append(secrets, values...)
	}
	return h, secrets, nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110, 5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// redactable returns the expanded values worth scrubbing from quoted
// bodies: long enough to be distinctive and not part of the host, which
// errors show anyway. Longest first, so no value is left half-scrubbed by a
// shorter one inside it.
func redactable(values []string, host string) []string {
	var out []string
	for _, v := range values {
		if len(v) >= minRedactBytes && !strings.Contains(host, v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return out
}

// checkRedirect follows at most maxRedirects redirects and keeps the
// configured headers, which may carry credentials, on the configured host.
func (t *httpTool) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Host != t.url.Host || req.URL.Scheme != t.url.Scheme {
		for name := range t.headers {
			req.Header.Del(name)
		}
		req.Host = ""
	}
	return nil
}

// Name returns the tool's name.
func (t *httpTool) Name() string { return t.name }

// Description returns the tool's description.
func (t *httpTool) Description() string { return t.description }

// InputSchema returns a copy of the parameters schema.
func (t *httpTool) InputSchema() json.RawMessage { return slices.Clone(t.schema) }

// Kind returns [tool.KindLocal].
func (t *httpTool) Kind() string { return tool.KindLocal }

// Call validates args, sends the request and returns the response body.
func (t *httpTool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	body, fields, err := t.decode(args)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, t.timeout, errTimedOut)
	defer cancel()
	req, err := t.newRequest(ctx, body, fields)
	if err != nil {
		return "", err
	}

	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return "", t.sendError(ctx, err)
	}
	defer resp.Body.Close()
	host := resp.Request.URL.Host

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
		t.log(ctx, host, resp.StatusCode, len(snippet), start)
		return "", t.statusError(resp.StatusCode, host, snippet)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, t.maxBody+1))
	if err != nil {
		return "", t.sendError(ctx, fmt.Errorf("read response body: %w", err))
	}
	t.log(ctx, host, resp.StatusCode, len(data), start)
	if int64(len(data)) > t.maxBody {
		data = cutAtRune(data[:t.maxBody])
		return fmt.Sprintf("%s\n[response truncated: body exceeds %d bytes]", data, t.maxBody), nil
	}
	return string(data), nil
}

// decode validates args and returns them as a compact JSON body and as
// top-level fields.
func (t *httpTool) decode(args json.RawMessage) ([]byte, map[string]json.RawMessage, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	var instance any
	if err := json.Unmarshal(args, &instance); err != nil {
		return nil, nil, fmt.Errorf("tool %s: decode arguments: %w", t.name, err)
	}
	if err := t.resolved.Validate(instance); err != nil {
		return nil, nil, fmt.Errorf("tool %s: invalid arguments: %w", t.name, err)
	}
	var body bytes.Buffer
	if err := json.Compact(&body, args); err != nil {
		return nil, nil, fmt.Errorf("tool %s: compact arguments: %w", t.name, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body.Bytes(), &fields); err != nil {
		return nil, nil, fmt.Errorf("tool %s: arguments are not an object: %w", t.name, err)
	}
	return body.Bytes(), fields, nil
}

// newRequest builds the request for one call.
func (t *httpTool) newRequest(ctx context.Context, body []byte, fields map[string]json.RawMessage) (*http.Request, error) {
	u := *t.url
	var reader io.Reader
	switch t.method {
	case http.MethodGet, http.MethodDelete:
		query, err := t.query(fields)
		if err != nil {
			return nil, err
		}
		if query != "" {
			u.RawQuery = strings.TrimPrefix(u.RawQuery+"&"+query, "&")
		}
	default:
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, t.method, u.String(), reader)
	if err != nil {
		// The URL may hold secrets; the error from NewRequest would quote it.
		return nil, fmt.Errorf("tool %s: build request for %s", t.name, t.url.Host)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, values := range t.headers {
		req.Header[name] = slices.Clone(values)
	}
	if host := t.headers.Get("Host"); host != "" {
		req.Host = host
	}
	return req, nil
}

// query encodes fields as query parameters, refusing those the configured
// URL already sets.
func (t *httpTool) query(fields map[string]json.RawMessage) (string, error) {
	values := make(url.Values, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if t.fixedQuery.Has(name) {
			return "", fmt.Errorf("tool %s: argument %q is fixed by the tool's URL and cannot be set", t.name, name)
		}
		raw := fields[name]
		switch raw[0] {
		case 'n': // null: omitted
		case '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", fmt.Errorf("tool %s: decode argument %q: %w", t.name, name, err)
			}
			values.Set(name, s)
		default: // numbers, booleans, and objects or arrays as JSON text
			values.Set(name, string(raw))
		}
	}
	return values.Encode(), nil
}

// sendError describes a failed exchange without the request URL, which
// *url.Error would quote, query string and all.
func (t *httpTool) sendError(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errTimedOut) {
		return fmt.Errorf("tool %s: request to %s timed out after %s: %w", t.name, t.url.Host, t.timeout, context.DeadlineExceeded)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("tool %s: request to %s cancelled: %w", t.name, t.url.Host, context.Cause(ctx))
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return fmt.Errorf("tool %s: %s %s: %w", t.name, t.method, t.url.Host, err)
}

// statusError describes a response outside 2xx, quoting the start of its
// body with expanded values scrubbed.
func (t *httpTool) statusError(code int, host string, body []byte) error {
	status := strings.TrimSpace(fmt.Sprintf("%d %s", code, http.StatusText(code)))
	snippet := strings.TrimSpace(t.redact(string(cutAtRune(body))))
	if snippet == "" {
		return fmt.Errorf("HTTP %s from %s", status, host)
	}
	return fmt.Errorf("HTTP %s from %s: %s", status, host, snippet)
}

// redact replaces every expanded value in s.
func (t *httpTool) redact(s string) string {
	for _, v := range t.secrets {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	return s
}

// log records a finished exchange. Only the host is logged: the path and
// query may hold secrets.
func (t *httpTool) log(ctx context.Context, host string, status, n int, start time.Time) {
	t.logger.DebugContext(ctx, "http tool call finished",
		slog.String("method", t.method),
		slog.String("host", host),
		slog.Int("status", status),
		slog.Int("body_bytes", n),
		slog.Duration("duration", time.Since(start)),
	)
}

// cutAtRune drops an incomplete UTF-8 sequence from the end of b, left by
// cutting it at a byte count.
func cutAtRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		start := len(b) - i
		if utf8.RuneStart(b[start]) {
			if !utf8.FullRune(b[start:]) {
				return b[:start]
			}
			return b
		}
	}
	return b
}
