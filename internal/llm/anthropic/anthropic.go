// Package anthropic adapts Anthropic's Messages API to [llm.Model].
//
// It is built on the official SDK, github.com/anthropics/anthropic-sdk-go/v2,
// with the SDK's own retries turned off: every call goes through an
// [llm.RetryPolicy], so all providers back off the same way. SDK types never
// leave this package.
//
// The adapter sets its credentials and API version itself rather than
// through the SDK's credential options: the API documents the key in an
// x-api-key header and a pinned anthropic-version header, while the SDK's
// WithAPIKey sends the key as a bearer Authorization header and the SDK
// pins a newer version. Nothing is read from the environment.
package anthropic

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

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/omniserve/omniserve/internal/llm"
)

// Defaults of [Config], and the fixed protocol values the adapter sends.
const (
	// ProviderName is what [Model.Provider] returns and every error names.
	ProviderName = "anthropic"
	// DefaultBaseURL is the API root that /v1/messages is appended to.
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultTimeout bounds each attempt of a call.
	DefaultTimeout = 120 * time.Second
	// DefaultMaxTokens is sent as max_tokens, which the Messages API
	// requires, when neither the request nor the config sets one.
	DefaultMaxTokens = 4096
	// APIVersion is sent in the anthropic-version header of every request.
	APIVersion = "2023-06-01"
)

// Interface guard.
var _ llm.Model = (*Model)(nil)

// Config configures a [Model].
type Config struct {
	// Model is the model identifier sent with every request, e.g.
	// "claude-sonnet-4-5". Required.
	Model string
	// BaseURL is the API root that /v1/messages is appended to; a trailing
	// "/v1" is tolerated and dropped. Defaults to https://api.anthropic.com,
	// the SDK's production endpoint.
	BaseURL string
	// APIKey is sent in the x-api-key header, never as a bearer token. It
	// may be empty for a gateway that adds its own credentials, in which
	// case the header is left out. It never appears in errors or logs.
	APIKey string
	// HTTPClient makes the requests. Defaults to [http.DefaultClient].
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call; for a stream it bounds the
	// whole stream, including the time the consumer spends between chunks.
	// An attempt that runs out of time fails with a retryable [llm.Error].
	// Defaults to 120s.
	Timeout time.Duration
	// MaxTokens is sent as max_tokens when the request's MaxTokens is zero;
	// the Messages API requires the field. Defaults to 4096.
	MaxTokens int
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
	c.MaxTokens = cmp.Or(c.MaxTokens, DefaultMaxTokens)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.Model == "" {
		return errors.New("anthropic config: Model is required")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("anthropic config: Timeout must not be negative, got %s", c.Timeout)
	}
	if c.MaxTokens < 0 {
		return fmt.Errorf("anthropic config: MaxTokens must not be negative, got %d", c.MaxTokens)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		// Not wrapped: the parse error repeats the URL, which could carry
		// credentials.
		return errors.New("anthropic config: BaseURL is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("anthropic config: BaseURL must be an absolute http or https URL")
	}
	return nil
}

// apiRoot drops a trailing slash and "/v1" from base: the SDK appends
// "v1/messages" itself, and "/v1" is a common way to write the root.
func apiRoot(base string) string {
	base = strings.TrimRight(base, "/")
	return strings.TrimSuffix(base, "/v1")
}

// Model is an [llm.Model] backed by the Messages API. It is safe for
// concurrent use.
type Model struct {
	model     string
	apiKey    string
	timeout   time.Duration
	maxTokens int
	retry     llm.RetryPolicy
	logger    *slog.Logger
	messages  sdk.MessageService
}

// New returns a Model for cfg. It reads no environment variables: unlike
// the SDK's client constructor, every setting comes from cfg.
func New(cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := []option.RequestOption{
		option.WithBaseURL(apiRoot(cfg.BaseURL)),
		option.WithHTTPClient(cfg.HTTPClient),
		// Retries are ours, see Config.Retry.
		option.WithMaxRetries(0),
		// Our own per-attempt deadline is always the earlier one, so the SDK
		// never starts a timer of its own; setting the timeout also stops
		// the SDK from refusing blocking calls with a large max_tokens.
		option.WithRequestTimeout(cfg.Timeout),
		option.WithHeader("anthropic-version", APIVersion),
		// No credential option is used (see the package doc), so nothing
		// sets Authorization; deleting it guards against a future default.
		option.WithHeaderDel("Authorization"),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithHeader("x-api-key", cfg.APIKey))
	}
	return &Model{
		model:     cfg.Model,
		apiKey:    cfg.APIKey,
		timeout:   cfg.Timeout,
		maxTokens: cfg.MaxTokens,
		retry:     cfg.Retry,
		logger:    cfg.Logger.With(slog.String("component", "llm.anthropic")),
		// The service, unlike sdk.NewClient, reads no ANTHROPIC_* variables
		// and no credential profiles.
		messages: sdk.NewMessageService(opts...),
	}, nil
}

// Provider returns "anthropic".
func (m *Model) Provider() string { return ProviderName }

// Name returns the model identifier sent to the provider.
func (m *Model) Name() string { return m.model }

// Generate makes one blocking Messages call, retried according to the
// configured [llm.RetryPolicy]. Failures are [*llm.Error] values, or an
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

func (m *Model) generateOnce(ctx context.Context, params sdk.MessageNewParams) (*llm.Response, error) {
	callCtx, cancel := context.WithTimeoutCause(ctx, m.timeout, errCallTimeout)
	defer cancel()
	var httpResp *http.Response
	out, err := m.messages.New(callCtx, params, option.WithResponseInto(&httpResp))
	if err != nil {
		return nil, m.callError(ctx, callCtx, httpResp, err)
	}
	return response(out), nil
}

// GenerateStream makes one streaming Messages call. It yields a chunk per
// text delta and, at message_stop, one chunk with Done set carrying the
// whole response: tool calls assembled from their input_json_delta
// fragments, and usage from message_start and message_delta.
//
// Failures before the first chunk is yielded are retried according to the
// configured [llm.RetryPolicy]; later ones are yielded as they are. An
// error event yields an [*llm.Error]; a stream that ends without
// message_stop yields one wrapping [llm.ErrStreamTruncated]. Stopping the
// iteration early closes the connection.
func (m *Model) GenerateStream(ctx context.Context, req *llm.Request) iter.Seq2[*llm.Chunk, error] {
	return func(yield func(*llm.Chunk, error) bool) {
		params, err := m.newParams(req)
		if err != nil {
			yield(nil, err)
			return
		}
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
func (m *Model) streamOnce(ctx context.Context, params sdk.MessageNewParams, emit func(*llm.Chunk) bool) (*llm.Response, error) {
	callCtx, cancel := context.WithTimeoutCause(ctx, m.timeout, errCallTimeout)
	defer cancel()
	var httpResp *http.Response
	stream := m.messages.NewStreaming(callCtx, params, option.WithResponseInto(&httpResp))
	// Closing the body is what ends the request when the consumer stops
	// early or the stream fails.
	defer stream.Close()

	var acc accumulator
	for stream.Next() {
		text := acc.add(stream.Current())
		if text != "" && !emit(&llm.Chunk{TextDelta: text}) {
			return nil, nil
		}
		if acc.stopped {
			// message_stop is the last event; don't wait for the server to
			// close the connection.
			return acc.response(), nil
		}
	}
	if err := stream.Err(); err != nil {
		return nil, m.streamError(ctx, callCtx, httpResp, err)
	}
	return nil, m.truncated(nil)
}

func (m *Model) logFailure(ctx context.Context, op string, attempt int, err error) {
	attrs := []slog.Attr{
		slog.String("provider", ProviderName),
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
