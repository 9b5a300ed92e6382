// Package otelexport turns the event log into OpenTelemetry spans and sends
// them over OTLP/HTTP. It owns every span name and attribute OmniServe
// exports; no other package starts spans.
//
// # Wiring
//
// [Enabled] reports whether the standard variables ask for export
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set,
// OTEL_SDK_DISABLED not "true", OTEL_TRACES_EXPORTER not "none"). [New]
// builds a tracer provider with a batch span processor and an OTLP/HTTP
// exporter, and [Exporter.Wrap] decorates a
// [github.com/omniserve/omniserve/internal/telemetry.Store]: every event
// is appended to the wrapped store first and then mapped to spans, so the
// log stays the source of truth and a span is only ever a view of it.
// [Exporter.Shutdown] ends the spans still open and flushes. A nil
// *Exporter is valid: its Wrap returns the store unchanged and its Shutdown
// does nothing, so callers need no branch when export is off.
//
// # Span model
//
// One request served over HTTP becomes one trace:
//
//	serve.request                       serve_request_start → serve_request_end | serve_request_error
//	└── agent.run                       user_message → final_answer | runtime_error
//	    ├── model.call                  model_call → model_response | model_error
//	    ├── tool.call | mcp.tool.call   tool_call → tool_result | tool_error
//	    └── model.call                  …
//
// Spans start and end at the timestamps of the events that open and close
// them. model_delta events are not exported: there is one per streamed
// chunk, and the model.call span already covers them.
//
// The serve layer and the agent record separate event traces (our
// trace_id) that share a run_id. agent.run is made a child of the open
// serve.request span with the same run_id, rather than a root span linked
// to it, so a tracing backend shows the request and everything it caused
// as one tree; our own trace ids stay searchable in the
// omniserve.event_trace_id attribute. A run started without a serve span
// (a background task) is the root of its own trace. serve.request itself
// becomes a child of a span found on the append context, so a future
// tracing middleware that extracts an incoming traceparent joins the
// caller's trace.
//
// model.call and tool.call find their parent through the event trace id
// of the open agent.run span. A tool call is exported as mcp.tool.call
// when its event marks it as an MCP tool: metadata "tool_kind" equal to
// "mcp" or "span_kind" equal to "mcp.tool.call", metadata "mcp_server"
// set (it also names the server), an actor id of "mcp" or "mcp:<server>",
// an actor type of "mcp_server", or the original's mcp_tool_call,
// mcp_tool_result and mcp_tool_error event types.
//
// Open spans are kept in a table keyed by our span id and bounded by
// [Config.MaxOpenSpans]: when it is full the oldest open span is ended
// early with omniserve.incomplete=true, so an end event that never arrives
// cannot leak memory. Shutdown ends whatever is still open the same way.
//
// # Attributes
//
// Every span carries omniserve.session_id (also as gen_ai.conversation.id),
// omniserve.run_id, omniserve.event_trace_id, omniserve.event_span_id and,
// where known, gen_ai.agent.name. GenAI semantic-convention attributes
// (semconv 1.36, the last release that names gen_ai.system):
//
//   - agent.run: gen_ai.operation.name=invoke_agent, run totals in
//     gen_ai.usage.input_tokens and gen_ai.usage.output_tokens.
//   - model.call: gen_ai.operation.name=chat, gen_ai.system and its newer
//     name gen_ai.provider.name (the actor id), gen_ai.request.model (the
//     actor name), gen_ai.response.finish_reasons, gen_ai.usage.*_tokens,
//     omniserve.model.step, omniserve.streaming, omniserve.model.tool_calls.
//   - tool.call: gen_ai.operation.name=execute_tool, gen_ai.tool.name,
//     gen_ai.tool.call.id, gen_ai.tool.type (function, or extension for
//     MCP) and omniserve.mcp.server when known.
//   - serve.request: http.request.method, http.route, omniserve.streaming,
//     omniserve.run.status.
//
// Error events set the span status to Error with the event's error message
// and error.type to its error type; nothing else of an error is read.
// Prompts, model output, tool arguments and tool results may hold personal
// data and never become attributes: only the fields named above are
// decoded from an event's input and output.
//
// # Configuration
//
// New reads the standard variables through [Config.LookupFunc], never the
// process environment directly, and passes each setting to the SDK as an
// explicit option, which takes precedence over the SDK's own reading of
// the environment: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS,
// _TIMEOUT, _COMPRESSION, _PROTOCOL (http/protobuf or http/json),
// _CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES; OTEL_TRACES_SAMPLER and its _ARG; OTEL_BSP_*;
// OTEL_[SPAN_]ATTRIBUTE_COUNT_LIMIT and _VALUE_LENGTH_LIMIT; and
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY for the exporter's own HTTP client.
// Malformed values make New fail with an error naming the variable (never
// quoting it: headers and URLs may hold credentials). Only the SDK's
// experimental OTEL_GO_X_* feature flags are still read from the process
// environment, by the SDK itself.
package otelexport
