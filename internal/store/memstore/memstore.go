// Package memstore is the in-process backend: it keeps telemetry events and
// session memory in memory. It is a real backend that passes the same
// contract suites as the durable ones; nothing survives a restart.
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/memory"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// Interface guards.
var (
	_ telemetry.Store = (*Store)(nil)
	_ memory.Store    = (*Store)(nil)
)

// Store is the in-memory backend. The zero value is not usable; call [New].
type Store struct {
	mu       sync.RWMutex
	events   map[string][]telemetry.Event
	watchers map[string]chan struct{}
	messages map[string][]llm.Message
	now      func() time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{
		events:   make(map[string][]telemetry.Event),
		watchers: make(map[string]chan struct{}),
		messages: make(map[string][]llm.Message),
		now:      time.Now,
	}
}

// EventAppend implements [telemetry.Store].
func (s *Store) EventAppend(_ context.Context, e *telemetry.Event) error {
	if e.EventID == "" {
		e.EventID = telemetry.NewID("event_")
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = s.now().UTC()
	}
	if e.SchemaVersion == 0 {
		e.SchemaVersion = telemetry.SchemaVersion
	}
	s.mu.Lock()
	evs := s.events[e.SessionID]
	e.SequenceNumber = int64(len(evs)) + 1
	s.events[e.SessionID] = append(evs, *e)
	ch := s.watchers[e.SessionID]
	delete(s.watchers, e.SessionID)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return nil
}

// EventList implements [telemetry.Store].
func (s *Store) EventList(_ context.Context, p telemetry.ListParams) ([]telemetry.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	evs := s.events[p.SessionID]
	start := min(max(int(p.After), 0), len(evs))
	out := make([]telemetry.Event, 0, min(len(evs)-start, max(p.Limit, 16)))
	for _, e := range evs[start:] {
		if p.RunID != "" && e.RunID != p.RunID {
			continue
		}
		out = append(out, e)
		if p.Limit > 0 && len(out) == p.Limit {
			break
		}
	}
	return out, nil
}

// EventLastSequence implements [telemetry.Store].
func (s *Store) EventLastSequence(_ context.Context, sessionID string) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.events[sessionID])), nil
}

// EventWatch implements [telemetry.Store].
func (s *Store) EventWatch(sessionID string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.watchers[sessionID]
	if ch == nil {
		ch = make(chan struct{})
		s.watchers[sessionID] = ch
	}
	return ch
}

// MessageList implements [memory.Store].
func (s *Store) MessageList(_ context.Context, sessionID string) ([]llm.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.messages[sessionID]), nil
}

// MessageAppend implements [memory.Store].
func (s *Store) MessageAppend(_ context.Context, sessionID string, msgs ...llm.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages[sessionID] = append(s.messages[sessionID], msgs...)
	return nil
}

// MessageClear implements [memory.Store].
func (s *Store) MessageClear(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.messages, sessionID)
	return nil
}
