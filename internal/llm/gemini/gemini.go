// Package gemini adapts Google's Gemini API (generateContent and
// streamGenerateContent, not Vertex AI) to [llm.Model].
//
// It is built on the official SDK, google.golang.org/genai, with everything
// the SDK would do on its own switched off: it makes exactly one HTTP
// request per attempt (no SDK retries, no automatic continuation), lets no
// environment variable change the key or the endpoint, and sends the key in
// the x-goog-api-key header, never in the URL. Retries go through
// an [llm.RetryPolicy], so all providers back off the same way. SDK types
// never leave this package.
//
// Gemini does not always name its function calls. Calls without an ID get
// one minted from their position in the answer ("call_1", "call_2", ...),
// and tool results are matched back to their call by the tool's name, which
// is what the API expects; IDs are never sent.
package gemini

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/omniserve/omniserve/internal/llm"
)

// Provider is the name reported by [Model.Provider] and at the start of
// every error.
const Provider = "gemini"

// Defaults of [Config].
const (
	DefaultBaseURL = "https://generativelanguage.googleapis.com/"
	DefaultTimeout = 120 * time.Second
)

// Interface guard.
var _ llm.Model = (*Model)(nil)

// Config configures a [Model].
type Config struct {
	// Model is the model identifier, e.g. "gemini-2.5-flash" (a "models/"
	// prefix is accepted too). Required.
	Model string
	// BaseURL is the API root that "v1beta/models/...:generateContent" is
	// appended to; tests and proxies override it. Defaults to
	// https://generativelanguage.googleapis.com/.
	BaseURL string
	// APIKey is sent in the x-goog-api-key header. Required: the Gemini API
	// has no anonymous access, and without a key the SDK would fall back to
	// GEMINI_API_KEY from the environment. It never appears in errors or
	// logs.
	APIKey string
	// HTTPClient makes the requests; its Transport is used, wrapped, and
	// the client itself is not modified. Defaults to [http.DefaultClient].
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call; for a stream it bounds the
	// whole stream, including the time the consumer spends between chunks.
	// An attempt that runs out of time fails with a retryable [llm.Error].
	// Defaults to 120s.
	Timeout time.Duration
	// Retry decides how failed calls are retried. Streams are retried only
	// until their first chunk has been yielded. Defaults to the zero
	// [llm.RetryPolicy], i.e. its own defaults.
	Retry llm.RetryPolicy
	// Logger receives a warning for each failed attempt. Defaults to
	// discarding.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.BaseURL = cmp.Or(c.BaseURL, DefaultBaseURL)
	c.HTTPClient = cmp.Or(c.HTTPClient, http.DefaultClient)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.Model == "" {
		return errors.New("gemini config: Model is required")
	}
	if strings.ContainsAny(c.Model, "?&#") || strings.Contains(c.Model, "..") {
		// The name becomes part of the URL path.
		return fmt.Errorf("gemini config: Model %q is not a model name", c.Model)
	}
	if c.APIKey == "" {
		return errors.New("gemini config: APIKey is required")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("gemini config: Timeout must not be negative, got %s", c.Timeout)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		// Not wrapped: the parse error repeats the URL, which could carry
		// credentials.
		return errors.New("gemini config: BaseURL is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("gemini config: BaseURL must be an absolute http or https URL")
	}
	return nil
}

// Model is an [llm.Model] backed by the Gemini API. It is safe for
// concurrent use.
type Model struct {
	model   string
	apiKey  string
	timeout time.Duration
	retry   llm.RetryPolicy
	logger  *slog.Logger
	models  *genai.Models
}

// New returns a Model for cfg. Every setting comes from cfg; see [Config]
// for what the SDK is kept from doing.
func New(cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// A copy, so the caller's client keeps its own transport.
	hc := *cfg.HTTPClient
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &recordingTransport{base: base}
	// The context only matters for Vertex AI credentials, which are not
	// used.
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:     cfg.APIKey,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: &hc,
		HTTPOptions: genai.HTTPOptions{
			BaseURL: cfg.BaseURL,
			// Retries are ours, see Config.Retry. One attempt, stated
			// explicitly rather than relying on nil meaning none.
			RetryOptions: &genai.HTTPRetryOptions{Attempts: genai.Ptr[int32](1)},
		},
	})
	if err != nil {
		// Not wrapped: the SDK's messages print the whole client config,
		// key included.
		return nil, errors.New("gemini: the SDK rejected the client configuration")
	}
	return &Model{
		model:   cfg.Model,
		apiKey:  cfg.APIKey,
		timeout: cfg.Timeout,
		retry:   cfg.Retry,
		logger:  cfg.Logger.With(slog.String("component", "llm.gemini")),
		models:  client.Models,
	}, nil
}

// Provider returns "gemini".
func (m *Model) Provider() string { return Provider }

// Name returns the model identifier sent to the provider.
func (m *Model) Name() string { return m.model }

// Generate makes one blocking generateContent call, retried according to
// the configured [llm.RetryPolicy]. Failures are [*llm.Error] values, or an
// error wrapping the context's error when ctx ends between attempts.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	c, err := m.newCall(req)
	if err != nil {
		return nil, err
	}
	return m.retry.Call(ctx, func(ctx context.Context) (*llm.Response, error) {
		return m.generateOnce(ctx, c)
	}, func(ctx context.Context, n int, err error) { m.logFailure(ctx, "generate", n, err) })
}

func (m *Model) generateOnce(ctx context.Context, c *call) (*llm.Response, error) {
	ex := &exchange{}
	callCtx, cancel := context.WithTimeoutCause(withExchange(ctx, ex), m.timeout, errCallTimeout)
	defer cancel()
	out, err := m.models.GenerateContent(callCtx, m.model, c.contents, c.config())
	if err != nil {
		return nil, m.callError(ctx, callCtx, ex, err)
	}
	var acc accumulator
	acc.add(out)
	if !acc.answered() {
		return nil, &llm.Error{Provider: Provider, Message: "response has no candidates"}
	}
	return acc.response(), nil
}

// GenerateStream makes one streamGenerateContent call (server-sent events).
// It yields a chunk per text part and, once the provider reports a finish
// reason, one chunk with Done set carrying the whole response, function
// calls and usage included.
//
// Failures before the first chunk is yielded are retried according to the
// configured [llm.RetryPolicy]; later ones are yielded as they are. A stream
// that ends without a finish reason yields an [*llm.Error] wrapping
// [llm.ErrStreamTruncated]. Stopping the iteration early closes the
// connection.
func (m *Model) GenerateStream(ctx context.Context, req *llm.Request) iter.Seq2[*llm.Chunk, error] {
	return func(yield func(*llm.Chunk, error) bool) {
		c, err := m.newCall(req)
		if err != nil {
			yield(nil, err)
			return
		}
		for c, err := range m.retry.Stream(ctx, func(ctx context.Context, emit func(*llm.Chunk) bool) (*llm.Response, error) {
			return m.streamOnce(ctx, c, emit)
		}, func(ctx context.Context, n int, err error) { m.logFailure(ctx, "stream", n, err) }) {
			if !yield(c, err) {
				return
			}
		}
	}
}

// streamOnce runs one streaming attempt, passing text chunks to emit. It
// returns nil, nil when emit asks to stop.
func (m *Model) streamOnce(ctx context.Context, c *call, emit func(*llm.Chunk) bool) (*llm.Response, error) {
	ex := &exchange{}
	callCtx, cancel := context.WithTimeoutCause(withExchange(ctx, ex), m.timeout, errCallTimeout)
	defer cancel()

	var acc accumulator
	// Leaving the loop early makes the SDK close the response body.
	for frame, err := range m.models.GenerateContentStream(callCtx, m.model, c.contents, c.config()) {
		if err != nil {
			if acc.finished() && ctx.Err() == nil && !isAPIError(err) {
				// The answer is complete; only the end of the connection
				// went wrong.
				m.logger.LogAttrs(ctx, slog.LevelWarn, "stream broke after the finish reason",
					slog.String("model", m.model),
					slog.String("error", m.scrub(transportText(err))),
				)
				break
			}
			return nil, m.streamError(ctx, callCtx, ex, err)
		}
		if text := acc.add(frame); text != "" && !emit(&llm.Chunk{TextDelta: text}) {
			return nil, nil
		}
	}
	if !acc.finished() {
		return nil, m.truncated(nil)
	}
	return acc.response(), nil
}

func (m *Model) logFailure(ctx context.Context, op string, attempt int, err error) {
	attrs := []slog.Attr{
		slog.String("provider", Provider),
		slog.String("model", m.model),
		slog.String("op", op),
		slog.Int("attempt", attempt),
		slog.Bool("retryable", llm.IsRetryable(err)),
		// Our errors are already scrubbed; scrub again in case one is not.
		slog.String("error", m.scrub(err.Error())),
	}
	if e, ok := errors.AsType[*llm.Error](err); ok && e.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", e.StatusCode))
	}
	m.logger.LogAttrs(ctx, slog.LevelWarn, "model call failed", attrs...)
}
