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
	// least recently written session is forgotten beyond it, with its
	// events' entries in the trace and run indexes. Defaults to 10,000.
	MaxSessions int
}

// Store is the in-memory backend. The zero value is not usable; call [New].
//
// Events live in one append-only log per session. Every event also gets a
// store-global position (a counter), which orders queries across sessions
// and is the cursor of [Store.EventQuery]. Indexes by trace and by run
// point into the session logs and are kept in position order, so a query
// by trace or run reads only that trace's or run's events.
type Store struct {
	maxSessions int
	now         func() time.Time

	mu       sync.RWMutex
	logs     map[string]*sessionLog
	watchers map[string]chan struct{}
	messages map[string][]llm.Message
	// lru orders sessions from least to most recently written.
	lru     *list.List
	lruElem map[string]*list.Element

	// pos is the global position of the latest append.
	pos int64
	// order is every stored event in position order; entries of evicted
	// sessions stay until compaction and are skipped meanwhile.
	order     []ref
	deadOrder int
	traces    map[string]*traceEntry
	// traceOrder is every trace in order of its first event, with the
	// same lazy removal as order.
	traceOrder []*traceEntry
	deadTraces int
	runs       map[string]*runEntry
}

// sessionLog is one session's events; events[i] has global position
// pos[i].
type sessionLog struct {
	events  []telemetry.Event
	pos     []int64
	traces  []*traceEntry // in order of first event
	evicted bool
}

// ref points at one stored event.
type ref struct {
	log *sessionLog
	i   int
}

func (r ref) pos() int64              { return r.log.pos[r.i] }
func (r ref) event() *telemetry.Event { return &r.log.events[r.i] }

// traceEntry indexes one trace.
type traceEntry struct {
	facts telemetry.TraceFacts
	refs  []ref
	// deadRefs counts refs into evicted sessions; dead marks a trace
	// whose every event is gone.
	deadRefs int
	dead     bool
}

// runEntry indexes one run.
type runEntry struct {
	refs     []ref
	deadRefs int
	traces   []*traceEntry // in order of first event
}

// New returns an empty store with the default limits.
func New() *Store { return NewWithConfig(Config{}) }

// NewWithConfig returns an empty store with cfg's limits.
func NewWithConfig(cfg Config) *Store {
	return &Store{
		maxSessions: cmp.Or(cfg.MaxSessions, 10_000),
		now:         time.Now,
		logs:        make(map[string]*sessionLog),
		watchers:    make(map[string]chan struct{}),
		messages:    make(map[string][]llm.Message),
		lru:         list.New(),
		lruElem:     make(map[string]*list.Element),
		traces:      make(map[string]*traceEntry),
		runs:        make(map[string]*runEntry),
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
		delete(s.messages, oldest)
		if log := s.logs[oldest]; log != nil {
			delete(s.logs, oldest)
			s.evict(log)
		}
	}
	s.compact()
}

// evict removes log's events from the indexes. The caller holds s.mu.
//
// A trace or run normally lives in one session and leaves with it. One
// that spans sessions keeps its other events; the evicted entries stay in
// its ref list, skipped by readers, until they are half of it, so
// evicting a session costs time in proportion to its own events.
func (s *Store) evict(log *sessionLog) {
	log.evicted = true
	s.deadOrder += len(log.events)
	traceRefs, runRefs := map[string]int{}, map[string]int{}
	for i := range log.events {
		if id := log.events[i].TraceID; id != "" {
			traceRefs[id]++
		}
		if id := log.events[i].Run(); id != "" {
			runRefs[id]++
		}
	}
	live := func(r ref) bool { return !r.log.evicted }
	for id, n := range traceRefs {
		te := s.traces[id]
		if te == nil {
			continue
		}
		te.deadRefs += n
		switch {
		case te.deadRefs == len(te.refs):
			te.dead = true
			s.deadTraces++
			delete(s.traces, id)
		case te.deadRefs > len(te.refs)/2:
			te.refs = keep(te.refs, live)
			te.deadRefs = 0
			te.facts = telemetry.TraceFacts{}
			for _, r := range te.refs {
				te.facts.Add(r.event())
			}
		}
	}
	for id, n := range runRefs {
		re := s.runs[id]
		if re == nil {
			continue
		}
		re.deadRefs += n
		switch {
		case re.deadRefs == len(re.refs):
			delete(s.runs, id)
		case re.deadRefs > len(re.refs)/2:
			re.refs = keep(re.refs, live)
			re.deadRefs = 0
			re.traces = keep(re.traces, func(t *traceEntry) bool { return !t.dead })
		}
	}
}

// compact drops evicted entries from the global orders once they are
// the majority, so the cost is amortised over the evictions.
func (s *Store) compact() {
	if s.deadOrder > 1024 && s.deadOrder > len(s.order)/2 {
		s.order = keep(s.order, func(r ref) bool { return !r.log.evicted })
		s.deadOrder = 0
	}
	if s.deadTraces > 1024 && s.deadTraces > len(s.traceOrder)/2 {
		s.traceOrder = keep(s.traceOrder, func(t *traceEntry) bool { return !t.dead })
		s.deadTraces = 0
	}
}

// keep filters xs in place.
func keep[T any](xs []T, ok func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if ok(x) {
			out = append(out, x)
		}
	}
	clear(xs[len(out):])
	return out
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
	log := s.logs[e.SessionID]
	if log == nil {
		// A run writes about ten events: size the first block for one run
		// so a new session does not regrow its slices four times.
		log = &sessionLog{events: make([]telemetry.Event, 0, 12), pos: make([]int64, 0, 12)}
		s.logs[e.SessionID] = log
	}
	e.SequenceNumber = int64(len(log.events)) + 1
	s.pos++
	log.events = append(log.events, *e)
	log.pos = append(log.pos, s.pos)
	r := ref{log: log, i: len(log.events) - 1}
	s.order = append(s.order, r)
	s.index(log, r)
	s.touch(e.SessionID)
	ch := s.watchers[e.SessionID]
	delete(s.watchers, e.SessionID)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return nil
}

// index adds r, just appended to log, to the trace and run indexes. The
// caller holds s.mu.
func (s *Store) index(log *sessionLog, r ref) {
	e := r.event()
	var te *traceEntry
	if e.TraceID != "" {
		te = s.traces[e.TraceID]
		if te == nil {
			te = &traceEntry{}
			s.traces[e.TraceID] = te
			s.traceOrder = append(s.traceOrder, te)
			log.traces = append(log.traces, te)
		}
		te.refs = append(te.refs, r)
		te.facts.Add(e)
	}
	if runID := e.Run(); runID != "" {
		re := s.runs[runID]
		if re == nil {
			re = &runEntry{}
			s.runs[runID] = re
		}
		re.refs = append(re.refs, r)
		if te != nil && !slices.Contains(re.traces, te) {
			re.traces = append(re.traces, te)
		}
	}
}

// EventList implements [telemetry.Store].
func (s *Store) EventList(_ context.Context, p telemetry.ListParams) ([]telemetry.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var evs []telemetry.Event
	if log := s.logs[p.SessionID]; log != nil {
		evs = log.events
	}
	start := min(max(int(p.After), 0), len(evs))
	out := make([]telemetry.Event, 0, min(len(evs)-start, max(p.Limit, 16)))
	for _, e := range evs[start:] {
		if p.RunID != "" && e.Run() != p.RunID {
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
	if log := s.logs[sessionID]; log != nil {
		return int64(len(log.events)), nil
	}
	return 0, nil
}

// EventWatch implements [telemetry.Store]. Followers of one session share
// a channel; all but the first find it under the read lock, so a crowd
// of followers waking together does not queue on the write lock.
func (s *Store) EventWatch(sessionID string) <-chan struct{} {
	s.mu.RLock()
	ch := s.watchers[sessionID]
	s.mu.RUnlock()
	if ch != nil {
		return ch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch = s.watchers[sessionID]
	if ch == nil {
		ch = make(chan struct{})
		s.watchers[sessionID] = ch
	}
	return ch
}

// EventQuery implements [telemetry.Store]. The cursor is the global
// position of the last event returned. It reads the narrowest index the
// filters allow: the trace's, the run's, the session's, or the global
// order; all are in position order, so the cursor is a binary search.
func (s *Store) EventQuery(_ context.Context, p telemetry.EventQueryParams) (telemetry.EventPage, error) {
	after, err := telemetry.ParseCursor(p.Cursor)
	if err != nil {
		return telemetry.EventPage{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var (
		page    telemetry.EventPage
		lastPos int64
	)
	// add reports whether to go on.
	add := func(r ref) bool {
		if r.log.evicted || !telemetry.EventMatches(r.event(), p) {
			return true
		}
		if p.Limit > 0 && len(page.Events) == p.Limit {
			// One more match exists: this page is not the last.
			page.NextCursor = telemetry.FormatCursor(lastPos)
			return false
		}
		page.Events = append(page.Events, *r.event())
		lastPos = r.pos()
		return true
	}
	if p.TraceID == "" && p.RunID == "" && p.SessionID != "" {
		log := s.logs[p.SessionID]
		if log == nil {
			return page, nil
		}
		start, _ := slices.BinarySearch(log.pos, after+1)
		for i := start; i < len(log.events); i++ {
			if !add(ref{log: log, i: i}) {
				break
			}
		}
		return page, nil
	}
	var refs []ref
	switch {
	case p.TraceID != "":
		if te := s.traces[p.TraceID]; te != nil {
			refs = te.refs
		}
	case p.RunID != "":
		if re := s.runs[p.RunID]; re != nil {
			refs = re.refs
		}
	default:
		refs = s.order
	}
	start, _ := slices.BinarySearchFunc(refs, after+1, func(r ref, pos int64) int { return cmp.Compare(r.pos(), pos) })
	for _, r := range refs[start:] {
		if !add(r) {
			break
		}
	}
	return page, nil
}

// TraceList implements [telemetry.Store].
func (s *Store) TraceList(_ context.Context, p telemetry.TraceQueryParams) ([]telemetry.Trace, error) {
	s.mu.RLock()
	var candidates []*traceEntry
	switch {
	case p.TraceID != "":
		if te := s.traces[p.TraceID]; te != nil {
			candidates = []*traceEntry{te}
		}
	case p.RunID != "":
		if re := s.runs[p.RunID]; re != nil {
			candidates = re.traces
		}
	case p.SessionID != "":
		if log := s.logs[p.SessionID]; log != nil {
			candidates = log.traces
		}
	default:
		candidates = s.traceOrder
	}
	var picked [][]telemetry.Event
	for i := len(candidates) - 1; i >= 0; i-- {
		te := candidates[i]
		if te.dead || !te.facts.Matches(p) {
			continue
		}
		picked = append(picked, te.events())
		if p.Limit > 0 && len(picked) == p.Limit {
			break
		}
	}
	s.mu.RUnlock()
	out := make([]telemetry.Trace, 0, len(picked))
	for _, evs := range picked {
		out = append(out, telemetry.BuildTrace(evs))
	}
	return out, nil
}

// events copies the trace's live events. The caller holds s.mu.
func (te *traceEntry) events() []telemetry.Event {
	out := make([]telemetry.Event, 0, len(te.refs)-te.deadRefs)
	for _, r := range te.refs {
		if !r.log.evicted {
			out = append(out, *r.event())
		}
	}
	return out
}

// TraceGet implements [telemetry.Store].
func (s *Store) TraceGet(_ context.Context, traceID string) (telemetry.Trace, error) {
	s.mu.RLock()
	te := s.traces[traceID]
	if te == nil {
		s.mu.RUnlock()
		return telemetry.Trace{}, telemetry.ErrNotFound
	}
	evs := te.events()
	s.mu.RUnlock()
	return telemetry.BuildTrace(evs), nil
}

// TraceLatestForRun implements [telemetry.Store].
func (s *Store) TraceLatestForRun(_ context.Context, runID string) (telemetry.Trace, error) {
	s.mu.RLock()
	var evs []telemetry.Event
	if re := s.runs[runID]; re != nil {
		if te := pickRunTrace(re.traces, runID); te != nil {
			evs = te.events()
		}
	}
	s.mu.RUnlock()
	if evs == nil {
		return telemetry.Trace{}, telemetry.ErrNotFound
	}
	return telemetry.BuildTrace(evs), nil
}

// TraceLatestForSession implements [telemetry.Store].
func (s *Store) TraceLatestForSession(_ context.Context, sessionID string) (telemetry.Trace, error) {
	s.mu.RLock()
	var evs []telemetry.Event
	if log := s.logs[sessionID]; log != nil && len(log.traces) > 0 {
		latest := log.traces[len(log.traces)-1]
		if te := pickRunTrace(log.traces, latest.facts.RunID); te != nil {
			evs = te.events()
		}
	}
	s.mu.RUnlock()
	if evs == nil {
		return telemetry.Trace{}, telemetry.ErrNotFound
	}
	return telemetry.BuildTrace(evs), nil
}

// pickRunTrace returns, among traces (in start order), the latest
// non-serve trace of runID, else its latest serve trace.
func pickRunTrace(traces []*traceEntry, runID string) *traceEntry {
	var serve *traceEntry
	for i := len(traces) - 1; i >= 0; i-- {
		te := traces[i]
		if te.dead || te.facts.RunID != runID {
			continue
		}
		if !te.facts.Serve() {
			return te
		}
		if serve == nil {
			serve = te
		}
	}
	return serve
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
