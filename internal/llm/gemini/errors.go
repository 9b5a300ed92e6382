package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/omniserve/omniserve/internal/llm"
)

// errCallTimeout is the cause of an attempt's context when Config.Timeout
// ends it, telling it apart from the caller's own deadline.
var errCallTimeout = errors.New("call timed out")

const (
	// maxMessageLen caps the provider text copied into an error.
	maxMessageLen = 1000
	// retryInfoType is the detail type Google APIs use to ask for a delay.
	retryInfoType = "type.googleapis.com/google.rpc.RetryInfo"
)

// keyParam matches an API key passed as a URL query parameter, the other
// way Google APIs accept one.
var keyParam = regexp.MustCompile(`([?&](?:key|api_key)=)[^&\s"']+`)

// exchange records the status and headers of the HTTP response of one
// attempt. The SDK's errors keep neither the real status of a non-JSON
// error body nor the Retry-After header.
type exchange struct {
	mu     sync.Mutex
	status int
	header http.Header
}

func (e *exchange) set(status int, h http.Header) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status, e.header = status, h
}

func (e *exchange) get() (int, http.Header) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status, e.header
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

// recordingTransport fills in the [exchange] found in a request's context.
type recordingTransport struct {
	base http.RoundTripper
}

// RoundTrip implements [http.RoundTripper].
func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if ex, ok := r.Context().Value(exchangeKey{}).(*exchange); ok && resp != nil {
		ex.set(resp.StatusCode, resp.Header)
	}
	return resp, err
}

// callError maps a failed attempt to an [*llm.Error]. ctx is the caller's
// context, callCtx the attempt's (ctx plus Config.Timeout), ex what the
// attempt's HTTP response said.
//
// SDK errors are described, not wrapped: they are vendor types, and some
// repeat request bodies.
func (m *Model) callError(ctx, callCtx context.Context, ex *exchange, err error) *llm.Error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	if ctx.Err() != nil {
		return m.canceled(ctx)
	}
	if errors.Is(context.Cause(callCtx), errCallTimeout) {
		return &llm.Error{
			Provider:  Provider,
			Retryable: true,
			Message:   fmt.Sprintf("call timed out after %s", m.timeout),
			Err:       context.DeadlineExceeded,
		}
	}
	if apiErr, ok := asAPIError(err); ok {
		status, h := ex.get()
		if status < 400 {
			// An error event inside a successful stream: its code is the
			// only status there is, and the headers are not about it.
			status, h = apiErr.Code, nil
		}
		return m.statusError(status, h, apiErr)
	}
	if isTransport(err) {
		return &llm.Error{
			Provider:  Provider,
			Retryable: true,
			Message:   "connection error: " + m.scrub(transportText(err)),
			Err:       err,
		}
	}
	return &llm.Error{Provider: Provider, Message: m.scrub(err.Error())}
}

// streamError maps the error that ended a stream. A network failure, or a
// frame cut in half, after a successful response means the stream was cut
// short.
func (m *Model) streamError(ctx, callCtx context.Context, ex *exchange, err error) *llm.Error {
	status, _ := ex.get()
	if ctx.Err() == nil && callCtx.Err() == nil && status != 0 && status < 400 && !isAPIError(err) &&
		(isTransport(err) || isSyntax(err)) {
		return m.truncated(err)
	}
	return m.callError(ctx, callCtx, ex, err)
}

// truncated reports a stream that ended before its finish reason. It is
// retryable: asking again may well succeed.
func (m *Model) truncated(cause error) *llm.Error {
	e := &llm.Error{
		Provider:  Provider,
		Retryable: true,
		Message:   llm.ErrStreamTruncated.Error(),
		Err:       llm.ErrStreamTruncated,
	}
	if cause != nil {
		if isSyntax(cause) {
			// The SDK's text repeats the broken frame; say what it was.
			e.Message += ": incomplete event"
		} else {
			e.Message += ": " + m.scrub(transportText(cause))
		}
		e.Err = fmt.Errorf("%w: %w", llm.ErrStreamTruncated, cause)
	}
	return e
}

func (m *Model) canceled(ctx context.Context) *llm.Error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return &llm.Error{Provider: Provider, Message: "call stopped: " + ctx.Err().Error(), Err: err}
}

// statusError describes an error answer: an HTTP error status, or an error
// event in a stream.
func (m *Model) statusError(status int, h http.Header, apiErr genai.APIError) *llm.Error {
	msg := strings.TrimSpace(apiErr.Message)
	if msg == "" || strings.HasPrefix(msg, "<") {
		// No message, or an HTML page from a proxy.
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = "unexpected status"
	}
	now := time.Now()
	delay, ok := llm.ParseRetryAfter(h.Get("Retry-After"), now)
	if !ok {
		delay = retryDelay(apiErr.Details)
	}
	return &llm.Error{
		Provider:   Provider,
		StatusCode: status,
		Retryable:  retryableStatus(status),
		RetryAfter: delay,
		Message:    m.scrub(msg),
	}
}

// retryDelay reads the delay Google APIs put in a RetryInfo detail of a
// 429, e.g. {"@type": ".../google.rpc.RetryInfo", "retryDelay": "37s"}.
func retryDelay(details []map[string]any) time.Duration {
	for _, d := range details {
		if d["@type"] != retryInfoType {
			continue
		}
		s, _ := d["retryDelay"].(string)
		if v, err := time.ParseDuration(s); err == nil && v > 0 {
			return v
		}
	}
	return 0
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// asAPIError finds the SDK's error answer in err; the SDK returns it by
// value.
func asAPIError(err error) (genai.APIError, bool) {
	if e, ok := errors.AsType[genai.APIError](err); ok {
		return e, true
	}
	if e, ok := errors.AsType[*genai.APIError](err); ok && e != nil {
		return *e, true
	}
	return genai.APIError{}, false
}

func isAPIError(err error) bool {
	_, ok := asAPIError(err)
	return ok
}

// isTransport reports whether err is a network failure: no response, or a
// response body cut short.
func isTransport(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	_, ok := errors.AsType[net.Error](err)
	return ok
}

// isSyntax reports whether err is a frame that is not valid JSON, which is
// what a frame cut in half looks like.
func isSyntax(err error) bool {
	_, ok := errors.AsType[*json.SyntaxError](err)
	return ok
}

// transportText describes a network failure without the request line that
// [url.Error] prefixes, or the SDK's own prefixes.
func transportText(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF.Error()
	}
	return err.Error()
}

// scrub removes the API key from provider text, in any form, and caps its
// length.
func (m *Model) scrub(s string) string {
	if m.apiKey != "" {
		s = strings.ReplaceAll(s, m.apiKey, "[redacted]")
		s = strings.ReplaceAll(s, url.QueryEscape(m.apiKey), "[redacted]")
	}
	s = keyParam.ReplaceAllString(s, "${1}[redacted]")
	if len(s) > maxMessageLen {
		s = strings.ToValidUTF8(s[:maxMessageLen], "") + "…"
	}
	return s
}
