// Package openai adapts the OpenAI Chat Completions API, and servers that
// speak the same protocol (Ollama, vLLM, LM Studio, OpenRouter and the
// like), to [llm.Model].
//
// It is built on the official SDK, github.com/openai/openai-go/v3, with the
// SDK's own retries turned off: every call goes through an
// [llm.RetryPolicy], so all providers back off the same way. SDK types
// never leave this package.
package openai

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/omniserve/omniserve/internal/llm"
)

// Defaults of [Config].
const (
	DefaultProvider = "openai"
	DefaultBaseURL  = "https://api.openai.com/v1"
	DefaultTimeout  = 120 * time.Second
)

// Interface guard.
var _ llm.Model = (*Model)(nil)

// Config configures a [Model].
type Config struct {
	// Provider is the name reported by [Model.Provider] and at the start of
	// every error, e.g. "ollama" for an OpenAI-compatible preset. When it is
	// "openai", MaxTokens is sent as max_completion_tokens; otherwise as
	// max_tokens, the only form many compatible servers know. Defaults to
	// "openai".
	Provider string
	// Model is the model identifier sent with every request, e.g.
	// "gpt-4o-mini". Required.
	Model string
	// BaseURL is the API root that /chat/completions is appended to.
	// Defaults to https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as a bearer token. It may be empty for local servers
	// such as Ollama, in which case no Authorization header is sent. It
	// never appears in errors or logs.
	APIKey string
	// HTTPClient makes the requests. Defaults to [http.DefaultClient].
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
	c.Provider = cmp.Or(c.Provider, DefaultProvider)
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
		return errors.New("openai config: Model is required")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("openai config: Timeout must not be negative, got %s", c.Timeout)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		// Not wrapped: the parse error repeats the URL, which could carry
		// credentials.
		return errors.New("openai config: BaseURL is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("openai config: BaseURL must be an absolute http or https URL")
	}
	return nil
}

// Model is an [llm.Model] backed by a Chat Completions endpoint. It is safe
// for concurrent use.
type Model struct {
	provider string
	model    string
	apiKey   string
	timeout  time.Duration
	retry    llm.RetryPolicy
	logger   *slog.Logger
	chat     oai.ChatCompletionService
}

// New returns a Model for cfg. It reads no environment variables: unlike
// the SDK's client constructor, every setting comes from cfg.
func New(cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(cfg.HTTPClient),
		// Retries are ours, see Config.Retry.
		option.WithMaxRetries(0),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	return &Model{
		provider: cfg.Provider,
		model:    cfg.Model,
		apiKey:   cfg.APIKey,
		timeout:  cfg.Timeout,
		retry:    cfg.Retry,
		logger:   cfg.Logger.With(slog.String("component", "llm.openai")),
		// The service, unlike oai.NewClient, does not read OPENAI_*
		// variables.
		chat: oai.NewChatCompletionService(opts...),
	}, nil
}

// Provider returns the configured provider name, "openai" by default.
func (m *Model) Provider() string { return m.provider }

// Name returns the model identifier sent to the provider.
func (m *Model) Name() string { return m.model }

// Generate makes one blocking Chat Completions call, retried according to
// the configured [llm.RetryPolicy]. Failures are [*llm.Error] values, or an
// error wrapping the context's error when ctx ends between attempts.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	params, err := m.newParams(req)
	if err != nil {
		return nil, err
	}
	return m.retry.Call(ctx, func(ctx context.Context) (*llm.Response, error) {
		return m.generateOnce(ctx, params)
	}, func(ctx context.Context, n int, err error) { m.logFailure(ctx, "generate", n, err) })
}

func (m *Model) generateOnce(ctx context.Context, params oai.ChatCompletionNewParams) (*llm.Response, error) {
	callCtx, cancel := context.WithTimeoutCause(ctx, m.timeout, errCallTimeout)
	defer cancel()
	var httpResp *http.Response
	out, err := m.chat.New(callCtx, params, option.WithResponseInto(&httpResp))
	if err != nil {
		return nil, m.callError(ctx, callCtx, httpResp, err)
	}
	return m.response(out)
}

// GenerateStream makes one streaming Chat Completions call. It yields a
// chunk per text delta and, once the provider reports a finish reason, one
// chunk with Done set carrying the whole response, usage included.
//
// Failures before the first chunk is yielded are retried according to the
// configured [llm.RetryPolicy]; later ones are yielded as they are. A
// stream that ends without a finish reason yields an [*llm.Error] wrapping
// [llm.ErrStreamTruncated]. Stopping the iteration early closes the
// connection.
func (m *Model) GenerateStream(ctx context.Context, req *llm.Request) iter.Seq2[*llm.Chunk, error] {
	return func(yield func(*llm.Chunk, error) bool) {
		params, err := m.newParams(req)
		if err != nil {
			yield(nil, err)
			return
		}
		params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
		for c, err := range m.retry.Stream(ctx, func(ctx context.Context, emit func(*llm.Chunk) bool) (*llm.Response, error) {
			return m.streamOnce(ctx, params, emit)
		}, func(ctx context.Context, n int, err error) { m.logFailure(ctx, "stream", n, err) }) {
			if !yield(c, err) {
				return
			}
		}
	}
}

// streamOnce runs one streaming attempt, passing text chunks to emit. It
// returns nil, nil when emit asks to stop.
func (m *Model) streamOnce(ctx context.Context, params oai.ChatCompletionNewParams, emit func(*llm.Chunk) bool) (*llm.Response, error) {
	callCtx, cancel := context.WithTimeoutCause(ctx, m.timeout, errCallTimeout)
	defer cancel()
	var httpResp *http.Response
	stream := m.chat.NewStreaming(callCtx, params, option.WithResponseInto(&httpResp))
	defer stream.Close()

	var acc accumulator
	for stream.Next() {
		text := acc.add(stream.Current())
		if text != "" && !emit(&llm.Chunk{TextDelta: text}) {
			return nil, nil
		}
	}
	err := stream.Err()
	if err != nil && acc.finished() && ctx.Err() == nil && !isStreamEvent(err) {
		// The answer is complete; only the trailing usage chunk was lost.
		m.logger.LogAttrs(ctx, slog.LevelWarn, "stream broke after the finish reason",
			slog.String("provider", m.provider),
			slog.String("model", m.model),
			slog.String("error", m.scrub(err.Error())),
		)
		err = nil
	}
	if err != nil {
		return nil, m.streamError(ctx, callCtx, httpResp, err)
	}
	if !acc.finished() {
		return nil, m.truncated(nil)
	}
	return m.streamResponse(&acc), nil
}

func (m *Model) logFailure(ctx context.Context, op string, attempt int, err error) {
	attrs := []slog.Attr{
		slog.String("provider", m.provider),
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
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug // the caller gave up; nothing went wrong
	}
	m.logger.LogAttrs(ctx, level, "model call failed", attrs...)
}
