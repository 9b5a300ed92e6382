// Package metrics owns the Prometheus registry of one server instance and
// the collectors on it. Collectors register on a registry created here,
// never on the global default, so two servers in one process (or one test)
// never share counts.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors of one server.
type Metrics struct {
	registry *prometheus.Registry

	requestsTotal   prometheus.Counter
	requestsSuccess prometheus.Counter
	requestsError   prometheus.Counter
	activeRequests  prometheus.Gauge
	requestDuration *prometheus.HistogramVec
	runs            *prometheus.CounterVec
	runDuration     prometheus.Histogram
	tokens          *prometheus.CounterVec
	modelCalls      *prometheus.CounterVec
	toolCalls       *prometheus.CounterVec
	sseClients      prometheus.Gauge
	runsInFlight    prometheus.Gauge
	runsWaiting     prometheus.Gauge
	runsLimit       prometheus.Gauge
	runsRejected    prometheus.Counter
}

// New creates a registry with the server's collectors and the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requestsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omniserve_requests_total", Help: "HTTP requests served, excluding scrapes of /prometheus.",
		}),
		requestsSuccess: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omniserve_requests_success", Help: "HTTP requests answered with a status below 400.",
		}),
		requestsError: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omniserve_requests_error", Help: "HTTP requests answered with a status of 400 or more.",
		}),
		activeRequests: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omniserve_active_requests", Help: "HTTP requests in progress.",
		}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "omniserve_request_duration_seconds",
			Help:    "HTTP request duration by method, route pattern and status class.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"method", "route", "code"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omniserve_runs_total", Help: "Agent runs finished, by mode (sync or stream) and outcome.",
		}, []string{"mode", "outcome"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "omniserve_run_duration_seconds", Help: "Agent run duration.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omniserve_model_tokens_total", Help: "Model tokens used, by provider, model and kind (prompt or completion).",
		}, []string{"provider", "model", "kind"}),
		modelCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omniserve_model_calls_total", Help: "Model calls, by provider, model and outcome (ok or error).",
		}, []string{"provider", "model", "outcome"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omniserve_tool_calls_total", Help: "Tool calls, by tool and outcome (ok or error).",
		}, []string{"tool", "outcome"}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omniserve_sse_clients", Help: "Open server-sent-event streams.",
		}),
		runsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omniserve_runs_in_flight", Help: "Agent runs holding an admission slot.",
		}),
		runsWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omniserve_runs_waiting", Help: "Run requests waiting for an admission slot.",
		}),
		runsLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omniserve_runs_limit", Help: "Concurrent runs admitted per process; 0 means unlimited.",
		}),
		runsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omniserve_runs_rejected_total", Help: "Run requests refused with 503 because no slot freed in time.",
		}),
	}
	reg.MustRegister(
		m.requestsTotal, m.requestsSuccess, m.requestsError, m.activeRequests, m.requestDuration,
		m.runs, m.runDuration, m.tokens, m.modelCalls, m.toolCalls, m.sseClients,
		m.runsInFlight, m.runsWaiting, m.runsLimit, m.runsRejected,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry, for callers that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// RequestStarted counts a request in progress; call the returned func with
// the route pattern (never the raw path) and status when it ends.
func (m *Metrics) RequestStarted(method string) func(route string, status int) {
	start := time.Now()
	m.activeRequests.Inc()
	return func(route string, status int) {
		m.activeRequests.Dec()
		m.requestsTotal.Inc()
		if status >= 400 {
			m.requestsError.Inc()
		} else {
			m.requestsSuccess.Inc()
		}
		m.requestDuration.WithLabelValues(method, route, strconv.Itoa(status/100)+"xx").Observe(time.Since(start).Seconds())
	}
}

// RunFinished records one agent run.
func (m *Metrics) RunFinished(mode, outcome string, d time.Duration) {
	m.runs.WithLabelValues(mode, outcome).Inc()
	m.runDuration.Observe(d.Seconds())
}

// ModelCall records one model call and its token usage. provider and
// model come from configuration, so the label sets stay bounded.
func (m *Metrics) ModelCall(provider, model, outcome string, promptTokens, completionTokens int) {
	m.modelCalls.WithLabelValues(provider, model, outcome).Inc()
	if promptTokens > 0 {
		m.tokens.WithLabelValues(provider, model, "prompt").Add(float64(promptTokens))
	}
	if completionTokens > 0 {
		m.tokens.WithLabelValues(provider, model, "completion").Add(float64(completionTokens))
	}
}

// ToolCall records one tool call. Tool names come from the agent's
// registry, so the label set stays bounded.
func (m *Metrics) ToolCall(tool, outcome string) {
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
}

// SSEClientOpened counts an open stream; call the returned func when it closes.
func (m *Metrics) SSEClientOpened() func() {
	m.sseClients.Inc()
	return m.sseClients.Dec
}

// RunsLimit records the per-process cap on concurrent runs (0 = none).
func (m *Metrics) RunsLimit(n int) { m.runsLimit.Set(float64(n)) }

// RunAdmitted counts a run taking a slot.
func (m *Metrics) RunAdmitted() { m.runsInFlight.Inc() }

// RunReleased counts a run giving its slot back.
func (m *Metrics) RunReleased() { m.runsInFlight.Dec() }

// RunWaiting counts a run request waiting for a slot; call the returned
// func when it stops waiting.
func (m *Metrics) RunWaiting() func() {
	m.runsWaiting.Inc()
	return m.runsWaiting.Dec
}

// RunRejected counts a run request refused with 503.
func (m *Metrics) RunRejected() { m.runsRejected.Inc() }
