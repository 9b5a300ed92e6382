package telemetrytest

import (
	"context"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// Interface guard.
var _ telemetry.Store = (*PartialStore)(nil)

// PartialStore is the shared partial fake of [telemetry.Store]: it passes
// every call to the embedded store, except that a non-nil Func field
// replaces its method. Tests use it to inject failures or to act at an
// exact point of a caller's work.
type PartialStore struct {
	telemetry.Store
	EventListFunc             func(ctx context.Context, p telemetry.ListParams) ([]telemetry.Event, error)
	EventQueryFunc            func(ctx context.Context, p telemetry.EventQueryParams) (telemetry.EventPage, error)
	TraceGetFunc              func(ctx context.Context, traceID string) (telemetry.Trace, error)
	TraceLatestForRunFunc     func(ctx context.Context, runID string) (telemetry.Trace, error)
	TraceLatestForSessionFunc func(ctx context.Context, sessionID string) (telemetry.Trace, error)
}

// EventList implements [telemetry.Store].
func (s *PartialStore) EventList(ctx context.Context, p telemetry.ListParams) ([]telemetry.Event, error) {
	if s.EventListFunc != nil {
		return s.EventListFunc(ctx, p)
	}
	return s.Store.EventList(ctx, p)
}

// EventQuery implements [telemetry.Store].
func (s *PartialStore) EventQuery(ctx context.Context, p telemetry.EventQueryParams) (telemetry.EventPage, error) {
	if s.EventQueryFunc != nil {
		return s.EventQueryFunc(ctx, p)
	}
	return s.Store.EventQuery(ctx, p)
}

// TraceGet implements [telemetry.Store].
func (s *PartialStore) TraceGet(ctx context.Context, traceID string) (telemetry.Trace, error) {
	if s.TraceGetFunc != nil {
		return s.TraceGetFunc(ctx, traceID)
	}
	return s.Store.TraceGet(ctx, traceID)
}

// TraceLatestForRun implements [telemetry.Store].
func (s *PartialStore) TraceLatestForRun(ctx context.Context, runID string) (telemetry.Trace, error) {
	if s.TraceLatestForRunFunc != nil {
		return s.TraceLatestForRunFunc(ctx, runID)
	}
	return s.Store.TraceLatestForRun(ctx, runID)
}

// TraceLatestForSession implements [telemetry.Store].
func (s *PartialStore) TraceLatestForSession(ctx context.Context, sessionID string) (telemetry.Trace, error) {
	if s.TraceLatestForSessionFunc != nil {
		return s.TraceLatestForSessionFunc(ctx, sessionID)
	}
	return s.Store.TraceLatestForSession(ctx, sessionID)
}
