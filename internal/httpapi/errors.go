package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// ErrorBody is the JSON body of every error response: FastAPI's shape, so
// clients of the original keep working. Detail is a string, or a list of
// [FieldError] for validation failures.
type ErrorBody struct {
	status int
	// Detail says what went wrong.
	Detail any `json:"detail"`
	// ErrorID identifies a server-side failure in the logs.
	ErrorID string `json:"error_id,omitempty"`
	headers http.Header
}

// FieldError is one invalid part of a request.
type FieldError struct {
	// Loc is the path to the bad value, e.g. ["body", "query"].
	Loc []string `json:"loc"`
	// Msg says what is wrong with it.
	Msg string `json:"msg"`
	// Type classifies the problem.
	Type string `json:"type"`
}

// Error implements error.
func (e *ErrorBody) Error() string {
	switch d := e.Detail.(type) {
	case string:
		return d
	case []FieldError:
		parts := make([]string, 0, len(d))
		for _, f := range d {
			parts = append(parts, strings.Join(f.Loc, ".")+": "+f.Msg)
		}
		return strings.Join(parts, "; ")
	}
	return http.StatusText(e.status)
}

// GetStatus implements huma.StatusError.
func (e *ErrorBody) GetStatus() int { return e.status }

// GetHeaders implements huma.HeadersError.
func (e *ErrorBody) GetHeaders() http.Header { return e.headers }

// newError builds the error body huma writes for status, msg and details.
func newError(status int, msg string, errs ...error) huma.StatusError {
	var fields []FieldError
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			det := d.ErrorDetail()
			loc := []string{"body"}
			if det.Location != "" {
				loc = strings.Split(det.Location, ".")
			}
			// huma reports a missing property at its parent; name the
			// property itself, as FastAPI clients expect.
			if name, ok := missingProperty(det.Message); ok {
				loc = append(loc, name)
			}
			fields = append(fields, FieldError{Loc: loc, Msg: det.Message, Type: errorType(status)})
			continue
		}
		var eb *ErrorBody
		if errors.As(err, &eb) {
			return eb
		}
		fields = append(fields, FieldError{Loc: []string{"body"}, Msg: err.Error(), Type: errorType(status)})
	}
	if len(fields) > 0 {
		return &ErrorBody{status: status, Detail: fields}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &ErrorBody{status: status, Detail: msg}
}

func missingProperty(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "expected required property ")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, " to be present")
	return name, ok && name != "" && !strings.ContainsAny(name, " .")
}

func errorType(status int) string {
	switch status {
	case http.StatusUnprocessableEntity:
		return "value_error"
	case http.StatusBadRequest:
		return "json_invalid"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	}
	return "error"
}

var installErrorsOnce sync.Once

// installErrors points huma's error constructor at ours. huma keeps it in
// a package variable, so this is process-wide; every API built by this
// package wants the same shape, so doing it once is safe.
func installErrors() {
	installErrorsOnce.Do(func() {
		huma.NewError = newError
	})
}

// detailError returns an error response with a plain-text detail.
func detailError(status int, detail string) *ErrorBody {
	return &ErrorBody{status: status, Detail: detail}
}

// fieldError returns a 422 naming one bad field.
func fieldError(msg string, loc ...string) *ErrorBody {
	return &ErrorBody{status: http.StatusUnprocessableEntity, Detail: []FieldError{{Loc: loc, Msg: msg, Type: "value_error"}}}
}
