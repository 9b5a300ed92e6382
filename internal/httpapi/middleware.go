package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
)

// metaPublic is the operation Metadata key marking operations that never
// need a token.
const metaPublic = "omniserve.public"

// recorder captures the status and stamps X-Process-Time just before the
// header goes out. Unwrap lets http.ResponseController reach the
// underlying writer's Flush and deadlines.
type recorder struct {
	http.ResponseWriter
	start  time.Time
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.Header().Set("X-Process-Time", strconv.FormatFloat(time.Since(r.start).Seconds(), 'f', 3, 64))
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe assigns the request id, counts the request in Prometheus and
// logs it. Scrapes of /prometheus are not counted, as in the original.
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := r.Header.Get("X-Request-ID")
		if reqID == "" || len(reqID) > 128 {
			reqID = newErrorID()
		}
		w.Header().Set("X-Request-ID", reqID)
		rec := &recorder{ResponseWriter: w, start: time.Now()}
		if r.URL.Path == "/prometheus" {
			next.ServeHTTP(rec, r)
			return
		}
		done := a.metrics.RequestStarted(r.Method)
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			done(route, status)
			if a.cfg.RequestLogging {
				a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method),
					slog.String("route", route),
					slog.Int("status", status),
					slog.Float64("duration_ms", float64(time.Since(rec.start).Microseconds())/1000),
					slog.String("request_id", reqID),
					slog.String("remote", r.RemoteAddr),
				)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recoverer turns a panic into a 500 whose body carries only an error id;
// the panic and stack go to the log under the same id.
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.internalError(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// internalError logs err under a fresh id and answers 500 with that id only.
func (a *API) internalError(w http.ResponseWriter, r *http.Request, err error) {
	id := newErrorID()
	a.log.ErrorContext(r.Context(), "internal error", slog.String("error_id", id), slog.String("error", err.Error()))
	writeJSON(w, http.StatusInternalServerError, &ErrorBody{status: http.StatusInternalServerError, Detail: "Internal server error", ErrorID: id})
}

// authMiddleware enforces the bearer token on every operation not tagged
// public. The comparison is constant-time.
func (a *API) authMiddleware(api huma.API) func(huma.Context, func(huma.Context)) {
	want := []byte(a.cfg.AuthToken)
	return func(ctx huma.Context, next func(huma.Context)) {
		if len(want) == 0 || public(ctx.Operation()) {
			next(ctx)
			return
		}
		h := ctx.Header("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			writeHumaJSON(ctx, http.StatusUnauthorized, unauthorized{Error: "Unauthorized", Message: "Missing or invalid Authorization header"})
			return
		}
		if subtle.ConstantTimeCompare([]byte(token), want) != 1 {
			writeHumaJSON(ctx, http.StatusUnauthorized, unauthorized{Error: "Unauthorized", Message: "Invalid authentication token"})
			return
		}
		next(ctx)
	}
}

// unauthorized is the original's 401 body.
type unauthorized struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeHumaJSON(ctx huma.Context, status int, v any) {
	ctx.SetHeader("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		ctx.SetHeader("WWW-Authenticate", "Bearer")
	}
	ctx.SetStatus(status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newErrorID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
