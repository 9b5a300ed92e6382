package anthropic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/omniserve/omniserve/internal/llm"
)

// errCallTimeout is the cause of an attempt's context when Config.Timeout
// ends it, telling it apart from the caller's own deadline.
var errCallTimeout = errors.New("call timed out")

const (
	// maxMessageLen caps the provider text copied into an error.
	maxMessageLen = 1000
	// minScrubLen is the shortest API key scrubbed from messages; shorter
	// ones are placeholders, not secrets, and replacing them would mangle
	// ordinary text.
	minScrubLen = 8
	// statusOverloaded is Anthropic's "overloaded" status, which net/http
	// has no name for.
	statusOverloaded = 529
)

// callError maps a failed attempt to an [*llm.Error]. ctx is the caller's
// context, callCtx the attempt's (ctx plus Config.Timeout), resp the HTTP
// response if one arrived.
//
// SDK errors are described, not wrapped: they hold the outgoing request,
// x-api-key header included, and are vendor types.
func (m *Model) callError(ctx, callCtx context.Context, resp *http.Response, err error) *llm.Error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	if ctx.Err() != nil {
		return m.canceled(ctx)
	}
	if errors.Is(context.Cause(callCtx), errCallTimeout) {
		return &llm.Error{
			Provider:  ProviderName,
			Retryable: true,
			Message:   fmt.Sprintf("call timed out after %s", m.timeout),
			Err:       context.DeadlineExceeded,
		}
	}
	if apiErr, ok := errors.AsType[*sdk.Error](err); ok {
		if apiErr.StatusCode < http.StatusBadRequest {
			// An error event in a stream whose response was a 200.
			return m.eventError(apiErr)
		}
		var h http.Header
		if apiErr.Response != nil {
			h = apiErr.Response.Header
		}
		return m.statusError(apiErr.StatusCode, h, apiMessage(apiErr))
	}
	if resp != nil && resp.StatusCode >= http.StatusBadRequest {
		// The error body could not be read.
		return m.statusError(resp.StatusCode, resp.Header, "")
	}
	if isTransport(err) {
		return &llm.Error{
			Provider:  ProviderName,
			Retryable: true,
			Message:   "connection error: " + m.scrub(transportText(err)),
			Err:       err,
		}
	}
	// Left: a response or event the SDK could not decode, or an error event
	// whose data was not an error object. Neither gets better by retrying.
	return &llm.Error{Provider: ProviderName, Message: m.scrub(err.Error())}
}

// streamError maps the error that ended a stream. A transport failure after
// a successful response means the stream was cut short.
func (m *Model) streamError(ctx, callCtx context.Context, resp *http.Response, err error) *llm.Error {
	if ctx.Err() == nil && callCtx.Err() == nil && resp != nil && resp.StatusCode < http.StatusBadRequest && isTransport(err) {
		return m.truncated(err)
	}
	return m.callError(ctx, callCtx, resp, err)
}

// truncated reports a stream that ended before message_stop. It is
// retryable: asking again may well succeed.
func (m *Model) truncated(cause error) *llm.Error {
	e := &llm.Error{
		Provider:  ProviderName,
		Retryable: true,
		Message:   llm.ErrStreamTruncated.Error(),
		Err:       llm.ErrStreamTruncated,
	}
	if cause != nil {
		e.Message += ": " + m.scrub(transportText(cause))
		e.Err = fmt.Errorf("%w: %w", llm.ErrStreamTruncated, cause)
	}
	return e
}

func (m *Model) canceled(ctx context.Context) *llm.Error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return &llm.Error{Provider: ProviderName, Message: "call stopped: " + ctx.Err().Error(), Err: err}
}

// statusError describes an HTTP error response. It honours the
// x-should-retry header the API sends to override the status's usual
// meaning.
func (m *Model) statusError(status int, h http.Header, msg string) *llm.Error {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		msg = statusText(status)
	}
	d, _ := llm.ParseRetryAfter(h.Get("Retry-After"), time.Now())
	e := &llm.Error{
		Provider:   ProviderName,
		StatusCode: status,
		Retryable:  retryableStatus(status),
		RetryAfter: d,
		Message:    m.scrub(msg),
	}
	switch h.Get("X-Should-Retry") {
	case "true":
		e.Retryable = true
	case "false":
		e.Retryable = false
	}
	return e
}

// eventError describes an error event sent in the middle of a stream, such
// as {"type":"error","error":{"type":"overloaded_error",...}}. The HTTP
// status was a success, so the error's type decides whether to retry.
func (m *Model) eventError(apiErr *sdk.Error) *llm.Error {
	msg := "error event in stream"
	s := apiMessage(apiErr)
	if s == "" {
		// The event's data was not an error object; it is all there is.
		s = strings.TrimSpace(apiErr.RawJSON())
	}
	if s != "" {
		msg += ": " + s
	}
	return &llm.Error{
		Provider:  ProviderName,
		Retryable: retryableType(string(apiErr.Type())),
		Message:   m.scrub(msg),
	}
}

// apiMessage is the "type: message" of an API error body, or "" when the
// body was not an error object (an HTML page from a proxy, say), so the
// status text is used instead.
func apiMessage(e *sdk.Error) string {
	typ, msg := string(e.Type()), strings.TrimSpace(e.Message)
	switch {
	case typ != "" && msg != "":
		return typ + ": " + msg
	case msg != "":
		return msg
	default:
		return typ
	}
}

func statusText(status int) string {
	switch status {
	case statusOverloaded:
		return "Overloaded"
	}
	if s := http.StatusText(status); s != "" {
		return s
	}
	return "unexpected status"
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return status >= http.StatusInternalServerError
}

// retryableType reports whether an API error type is transient: the types
// the API documents for 429, 500, 504 and 529.
func retryableType(typ string) bool {
	switch typ {
	case "rate_limit_error", "api_error", "timeout_error", "overloaded_error":
		return true
	}
	return false
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

// transportText describes a network failure without the request line that
// [url.Error] prefixes.
func transportText(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// scrub removes the API key from provider text, and caps its length.
func (m *Model) scrub(s string) string {
	if len(m.apiKey) >= minScrubLen {
		s = strings.ReplaceAll(s, m.apiKey, "[redacted]")
	}
	if len(s) > maxMessageLen {
		s = strings.ToValidUTF8(s[:maxMessageLen], "") + "…"
	}
	return s
}
