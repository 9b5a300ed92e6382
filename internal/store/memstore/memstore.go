// Package memstore is the in-process backend: it keeps telemetry events and
// session memory in memory. It is a real backend that passes the same
// contract suites as the durable ones; nothing survives a restart.
package memstore

import (
	"cmp"
	"container/list"
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

// Config bounds what the store keeps. Memory is the only place this
// backend has, so it forgets the least recently written sessions rather
// than grow without limit.
type Config struct {
	// MaxSessions is how many sessions' events and messages are kept; the
	// least recently written session is forgotten beyond it. Defaults to
	// 10,000.
	MaxSessions int
}

// Store is the in-memory backend. The zero value is not usable; call [New].
type Store struct {
	maxSessions int
	now         func() time.Time

	mu       sync.RWMutex
	events   map[string][]telemetry.Event
	watchers map[string]chan struct{}
	messages map[string][]llm.Message
	// lru orders sessions from least to most recently written.
	lru     *list.List
	lruElem map[string]*list.Element
}

// New returns an empty store with the default limits.
func New() *Store { return NewWithConfig(Config{}) }

// NewWithConfig returns an empty store with cfg's limits.
func NewWithConfig(cfg Config) *Store {
	return &Store{
		maxSessions: cmp.Or(cfg.MaxSessions, 10_000),
		now:         time.Now,
		events:      make(map[string][]telemetry.Event),
		watchers:    make(map[string]chan struct{}),
		messages:    make(map[string][]llm.Message),
		lru:         list.New(),
		lruElem:     make(map[string]*list.Element),
	}
}

// touch marks sessionID as just written and forgets the oldest sessions
// past the limit. The caller holds s.mu.
func (s *Store) touch(sessionID string) {
	if el, ok := s.lruElem[sessionID]; ok {
		s.lru.MoveToBack(el)
		return
	}
	s.lruElem[sessionID] = s.lru.PushBack(sessionID)
	for s.lru.Len() > s.maxSessions {
		oldest := s.lru.Remove(s.lru.Front()).(string)
		delete(s.lruElem, oldest)
		delete(s.events, oldest)
		delete(s.messages, oldest)
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
	s.touch(e.SessionID)
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
	s.touch(sessionID)
	return nil
}

// MessageClear implements [memory.Store].
func (s *Store) MessageClear(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.messages, sessionID)
	return nil
}
