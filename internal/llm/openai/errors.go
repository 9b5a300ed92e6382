package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/omniserve/omniserve/internal/llm"
)

// errCallTimeout is the cause of an attempt's context when Config.Timeout
// ends it, telling it apart from the caller's own deadline.
var errCallTimeout = errors.New("call timed out")

const (
	// maxMessageLen caps the provider text copied into an error.
	maxMessageLen = 1000
	// maxErrorBody caps how much of an undecodable error body is read.
	maxErrorBody = 64 << 10
	// minScrubLen is the shortest API key scrubbed from messages; shorter
	// ones (Ollama's conventional "ollama") are placeholders, not secrets.
	minScrubLen = 8
)

// callError maps a failed attempt to an [*llm.Error]. ctx is the caller's
// context, callCtx the attempt's (ctx plus Config.Timeout), resp the HTTP
// response if one arrived.
//
// SDK errors are described, not wrapped: they hold the outgoing request,
// Authorization header included, and are vendor types.
func (m *Model) callError(ctx, callCtx context.Context, resp *http.Response, err error) *llm.Error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	if ctx.Err() != nil {
		return m.canceled(ctx)
	}
	if errors.Is(context.Cause(callCtx), errCallTimeout) {
		return &llm.Error{
			Provider:  m.provider,
			Retryable: true,
			Message:   fmt.Sprintf("call timed out after %s", m.timeout),
			Err:       context.DeadlineExceeded,
		}
	}
	if apiErr, ok := errors.AsType[*oai.Error](err); ok {
		var h http.Header
		msg := apiErr.Message
		if apiErr.Response != nil {
			h = apiErr.Response.Header
			if msg == "" {
				// No OpenAI error object; the SDK keeps the body readable.
				msg = bodyMessage(apiErr.Response.Body)
			}
		}
		return m.statusError(apiErr.StatusCode, h, msg)
	}
	if resp != nil && resp.StatusCode >= 400 {
		// The SDK could not decode the body as an OpenAI error object;
		// compatible servers use other shapes.
		return m.statusError(resp.StatusCode, resp.Header, bodyMessage(resp.Body))
	}
	if se, ok := errors.AsType[*ssestream.StreamError](err); ok {
		return m.eventError(se)
	}
	if isTransport(err) {
		return &llm.Error{
			Provider:  m.provider,
			Retryable: true,
			Message:   "connection error: " + m.scrub(transportText(err)),
			Err:       err,
		}
	}
	return &llm.Error{Provider: m.provider, Message: m.scrub(err.Error()), Err: err}
}

// streamError maps the error that ended a stream. A transport failure after
// a successful response means the stream was cut short.
func (m *Model) streamError(ctx, callCtx context.Context, resp *http.Response, err error) *llm.Error {
	if ctx.Err() == nil && callCtx.Err() == nil && resp != nil && resp.StatusCode < 400 && isTransport(err) {
		return m.truncated(err)
	}
	return m.callError(ctx, callCtx, resp, err)
}

// truncated reports a stream that ended before its finish reason. It is
// retryable: asking again may well succeed.
func (m *Model) truncated(cause error) *llm.Error {
	e := &llm.Error{
		Provider:  m.provider,
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
	return &llm.Error{Provider: m.provider, Message: "call stopped: " + ctx.Err().Error(), Err: err}
}

// statusError describes an HTTP error response. It honours the
// x-should-retry header OpenAI sends to override the status's usual
// meaning.
func (m *Model) statusError(status int, h http.Header, msg string) *llm.Error {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = "unexpected status"
	}
	e := &llm.Error{
		Provider:   m.provider,
		StatusCode: status,
		Retryable:  retryableStatus(status),
		RetryAfter: retryAfter(h, time.Now()),
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

// eventError describes an error event sent in the middle of a stream.
func (m *Model) eventError(se *ssestream.StreamError) *llm.Error {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	msg := "error event in stream"
	retryable := false
	if json.Unmarshal(se.Event.Data, &body) == nil {
		if body.Error.Message != "" {
			msg += ": " + body.Error.Message
		}
		code, _ := body.Error.Code.(string)
		retryable = body.Error.Type == "server_error" || strings.Contains(body.Error.Type+code, "rate_limit")
	}
	return &llm.Error{Provider: m.provider, Retryable: retryable, Message: m.scrub(msg)}
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// retryAfter reads the requested delay, preferring OpenAI's millisecond
// header to the standard one.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < float64(time.Hour/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	d, _ := llm.ParseRetryAfter(h.Get("Retry-After"), now)
	return d
}

// bodyMessage extracts the message from an error body in any of the shapes
// compatible servers use: {"error": {"message": ...}}, {"error": "..."},
// {"message": "..."} or {"detail": "..."}. Other bodies (an HTML page from
// a proxy, say) yield "" so the status text is used.
func bodyMessage(body io.Reader) string {
	if body == nil {
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil {
		return ""
	}
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  string          `json:"detail"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(v.Error, &s) == nil && s != "" {
		return s
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(v.Error, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	if v.Message != "" {
		return v.Message
	}
	return v.Detail
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

// isStreamEvent reports whether err came from an error event in the stream.
func isStreamEvent(err error) bool {
	_, ok := errors.AsType[*ssestream.StreamError](err)
	return ok
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
