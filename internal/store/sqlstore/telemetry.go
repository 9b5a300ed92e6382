package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// maxNotifyPayload bounds a NOTIFY payload (PostgreSQL allows just under
// 8000 bytes); longer session ids wake every watcher instead.
const maxNotifyPayload = 7900

// EventAppend implements [telemetry.Store]. It numbers the event from the
// session's counter row, inserts it, folds it into its trace's facts and,
// on PostgreSQL, notifies listeners when the transaction commits.
func (s *Store) EventAppend(ctx context.Context, e *telemetry.Event) error {
	if e.EventID == "" {
		e.EventID = telemetry.NewID("event_")
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = s.wallNow()
	}
	if e.SchemaVersion == 0 {
		e.SchemaVersion = telemetry.SchemaVersion
	}
	var seq int64
	err := s.inTx(ctx, "append event", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO {p}event_sessions (session_id, last_sequence) VALUES (?, 1)
			ON CONFLICT (session_id) DO UPDATE SET last_sequence = {p}event_sessions.last_sequence + 1
			RETURNING last_sequence`), e.SessionID).Scan(&seq); err != nil {
			return dbErr(err)
		}
		stored := *e
		stored.SequenceNumber = seq
		data, err := json.Marshal(&stored)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		var id int64
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO {p}events (session_id, sequence, event_id, event_type, trace_id, run_id, task_id, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			e.SessionID, seq, e.EventID, e.EventType, e.TraceID, e.Run(), e.Meta("task_id"), string(data)).Scan(&id); err != nil {
			return dbErr(err)
		}
		if e.TraceID != "" {
			if err := s.foldTrace(ctx, tx, &stored, id); err != nil {
				return err
			}
		}
		if s.dialect == dialectPostgres {
			payload := e.SessionID
			if len(payload) > maxNotifyPayload {
				payload = ""
			}
			if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", s.channel, payload); err != nil {
				return dbErr(err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.SequenceNumber = seq
	s.hub.wake(e.SessionID)
	return nil
}

// foldTrace adds e, stored under id, to its trace's facts.
func (s *Store) foldTrace(ctx context.Context, tx *sql.Tx, e *telemetry.Event, id int64) error {
	var (
		version int64
		raw     string
		facts   telemetry.TraceFacts
	)
	err := tx.QueryRowContext(ctx, s.q(`SELECT version, facts FROM {p}traces WHERE trace_id = ?{lock}`), e.TraceID).Scan(&version, &raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return dbErr(err)
	default:
		if err := json.Unmarshal([]byte(raw), &facts); err != nil {
			return dbErr(fmt.Errorf("decode trace %s facts: %w", e.TraceID, err))
		}
	}
	facts.Add(e)
	data, err := json.Marshal(&facts)
	if err != nil {
		return fmt.Errorf("encode trace facts: %w", err)
	}
	f := &facts
	if version == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO {p}traces (trace_id, first_event, session_id, run_id, task_id, agent_id, workflow_id, model, status, serve, version, facts)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`),
			f.TraceID, id, f.SessionID, f.RunID, f.TaskID, f.AgentID, f.WorkflowID, f.Model, f.Status, flag(f.Serve()), string(data))
		return dbErr(err)
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE {p}traces SET run_id = ?, task_id = ?, agent_id = ?, workflow_id = ?, model = ?, status = ?,
		version = version + 1, facts = ? WHERE trace_id = ? AND version = ?`),
		f.RunID, f.TaskID, f.AgentID, f.WorkflowID, f.Model, f.Status, string(data), f.TraceID, version)
	return checkUpdated(res, err)
}

// checkUpdated turns a compare-and-swap update that matched no row into a
// retry.
func checkUpdated(res sql.Result, err error) error {
	if err != nil {
		return dbErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(err)
	}
	if n != 1 {
		return &dbError{fmt.Errorf("%w: row changed under its version", errRetry)}
	}
	return nil
}

// EventList implements [telemetry.Store].
func (s *Store) EventList(ctx context.Context, p telemetry.ListParams) ([]telemetry.Event, error) {
	query := `SELECT sequence, data FROM {p}events WHERE session_id = ? AND sequence > ?`
	args := []any{p.SessionID, p.After}
	if p.RunID != "" {
		query += ` AND run_id = ?`
		args = append(args, p.RunID)
	}
	query += ` ORDER BY sequence`
	if p.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, p.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, wrap("list events", err)
	}
	out := []telemetry.Event{}
	err = scanEach(rows, func(r *sql.Rows) error {
		var (
			seq  int64
			data string
		)
		if err := r.Scan(&seq, &data); err != nil {
			return err
		}
		e, err := decodeEvent(data, seq)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, wrap("list events", err)
	}
	return out, nil
}

// decodeEvent decodes a stored event.
func decodeEvent(data string, seq int64) (telemetry.Event, error) {
	var e telemetry.Event
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	e.SequenceNumber = seq
	return e, nil
}

// scanEach calls fn for each row and closes rows.
func scanEach(rows *sql.Rows, fn func(*sql.Rows) error) error {
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EventLastSequence implements [telemetry.Store].
func (s *Store) EventLastSequence(ctx context.Context, sessionID string) (int64, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT last_sequence FROM {p}event_sessions WHERE session_id = ?`), sessionID).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, wrap("last event sequence", err)
	}
	return last, nil
}

// EventWatch implements [telemetry.Store]. The channel closes at this
// process's next append to the session, at the next notification of
// another process's (PostgreSQL), or at the next poll (SQLite); see
// [Store.WakeupMode]. After [Store.Close] it is closed already.
func (s *Store) EventWatch(sessionID string) <-chan struct{} {
	return s.hub.watch(sessionID)
}

// EventQuery implements [telemetry.Store]. The cursor is the events
// table's id of the last event returned.
//
// On PostgreSQL ids are taken when an append inserts and become visible
// when it commits, so an append that commits after a later-numbered one
// can land behind a cursor already handed out; within one session the
// counter row orders appends, so this never happens to a session's own
// events.
func (s *Store) EventQuery(ctx context.Context, p telemetry.EventQueryParams) (telemetry.EventPage, error) {
	after, err := telemetry.ParseCursor(p.Cursor)
	if err != nil {
		return telemetry.EventPage{}, err
	}
	query := `SELECT id, sequence, data FROM {p}events WHERE id > ?`
	args := []any{after}
	for _, f := range []struct{ col, val string }{
		{"trace_id", p.TraceID}, {"run_id", p.RunID}, {"session_id", p.SessionID}, {"task_id", p.TaskID},
	} {
		if f.val != "" {
			query += ` AND ` + f.col + ` = ?`
			args = append(args, f.val)
		}
	}
	if len(p.EventTypes) > 0 {
		query += ` AND event_type IN (` + placeholders(len(p.EventTypes)) + `)`
		for _, t := range p.EventTypes {
			args = append(args, t)
		}
	}
	query += ` ORDER BY id`
	if p.Limit > 0 {
		// One more than the page tells whether another page follows.
		query += ` LIMIT ?`
		args = append(args, p.Limit+1)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return telemetry.EventPage{}, wrap("query events", err)
	}
	var (
		page telemetry.EventPage
		last int64
	)
	err = scanEach(rows, func(r *sql.Rows) error {
		var (
			id, seq int64
			data    string
		)
		if err := r.Scan(&id, &seq, &data); err != nil {
			return err
		}
		e, err := decodeEvent(data, seq)
		if err != nil {
			return err
		}
		if !telemetry.EventMatches(&e, p) {
			return nil
		}
		if p.Limit > 0 && len(page.Events) == p.Limit {
			page.NextCursor = telemetry.FormatCursor(last)
			return nil
		}
		page.Events = append(page.Events, e)
		last = id
		return nil
	})
	if err != nil {
		return telemetry.EventPage{}, wrap("query events", err)
	}
	return page, nil
}

// traceRow is one row of the traces table.
type traceRow struct {
	id    string
	facts telemetry.TraceFacts
}

// traceQuery lists trace ids and facts matching the where clause, newest
// first.
func (s *Store) traceQuery(ctx context.Context, where string, args []any, limit int) ([]traceRow, error) {
	query := `SELECT trace_id, facts FROM {p}traces`
	if where != "" {
		query += ` WHERE ` + where
	}
	query += ` ORDER BY first_event DESC`
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	var out []traceRow
	err = scanEach(rows, func(r *sql.Rows) error {
		var tr traceRow
		var raw string
		if err := r.Scan(&tr.id, &raw); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(raw), &tr.facts); err != nil {
			return fmt.Errorf("decode trace %s facts: %w", tr.id, err)
		}
		out = append(out, tr)
		return nil
	})
	return out, err
}

// traceEvents returns the events of the given traces, each in append
// order.
func (s *Store) traceEvents(ctx context.Context, ids []string) (map[string][]telemetry.Event, error) {
	out := make(map[string][]telemetry.Event, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT trace_id, sequence, data FROM {p}events WHERE trace_id IN (`+placeholders(len(ids))+`) ORDER BY id`), args...)
	if err != nil {
		return nil, err
	}
	err = scanEach(rows, func(r *sql.Rows) error {
		var (
			traceID, data string
			seq           int64
		)
		if err := r.Scan(&traceID, &seq, &data); err != nil {
			return err
		}
		e, err := decodeEvent(data, seq)
		if err != nil {
			return err
		}
		out[traceID] = append(out[traceID], e)
		return nil
	})
	return out, err
}

// buildTraces builds the traces of rows, in order.
func (s *Store) buildTraces(ctx context.Context, trs []traceRow) ([]telemetry.Trace, error) {
	ids := make([]string, len(trs))
	for i, tr := range trs {
		ids[i] = tr.id
	}
	evs, err := s.traceEvents(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]telemetry.Trace, 0, len(trs))
	for _, tr := range trs {
		if len(evs[tr.id]) > 0 {
			out = append(out, telemetry.BuildTrace(evs[tr.id]))
		}
	}
	return out, nil
}

// TraceList implements [telemetry.Store]. It selects on the trace facts
// table and reads the events of the traces it returns only.
func (s *Store) TraceList(ctx context.Context, p telemetry.TraceQueryParams) ([]telemetry.Trace, error) {
	var (
		conds []string
		args  []any
	)
	for _, f := range []struct{ col, val string }{
		{"trace_id", p.TraceID}, {"run_id", p.RunID}, {"session_id", p.SessionID}, {"task_id", p.TaskID},
		{"agent_id", p.AgentID}, {"workflow_id", p.WorkflowID}, {"model", p.Model}, {"status", p.Status},
	} {
		if f.val != "" {
			conds = append(conds, f.col+` = ?`)
			args = append(args, f.val)
		}
	}
	trs, err := s.traceQuery(ctx, strings.Join(conds, " AND "), args, p.Limit)
	if err != nil {
		return nil, wrap("list traces", err)
	}
	kept := trs[:0]
	for _, tr := range trs {
		if tr.facts.Matches(p) {
			kept = append(kept, tr)
		}
	}
	out, err := s.buildTraces(ctx, kept)
	if err != nil {
		return nil, wrap("list traces", err)
	}
	return out, nil
}

// TraceGet implements [telemetry.Store].
func (s *Store) TraceGet(ctx context.Context, traceID string) (telemetry.Trace, error) {
	evs, err := s.traceEvents(ctx, []string{traceID})
	if err != nil {
		return telemetry.Trace{}, wrap("get trace", err)
	}
	if len(evs[traceID]) == 0 {
		return telemetry.Trace{}, telemetry.ErrNotFound
	}
	return telemetry.BuildTrace(evs[traceID]), nil
}

// TraceLatestForRun implements [telemetry.Store].
func (s *Store) TraceLatestForRun(ctx context.Context, runID string) (telemetry.Trace, error) {
	return s.latestTrace(ctx, "latest trace of run", `run_id = ?`, runID)
}

// TraceLatestForSession implements [telemetry.Store]: the session's latest
// trace names the run, and that run's traces in the session are chosen
// among as for a run.
func (s *Store) TraceLatestForSession(ctx context.Context, sessionID string) (telemetry.Trace, error) {
	var runID string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT run_id FROM {p}traces WHERE session_id = ? ORDER BY first_event DESC LIMIT 1`), sessionID).Scan(&runID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return telemetry.Trace{}, telemetry.ErrNotFound
	case err != nil:
		return telemetry.Trace{}, wrap("latest trace of session", err)
	}
	return s.latestTrace(ctx, "latest trace of session", `session_id = ? AND run_id = ?`, sessionID, runID)
}

// latestTrace returns the latest trace matching where that is not a
// serve trace, else the latest serve trace.
func (s *Store) latestTrace(ctx context.Context, op, where string, args ...any) (telemetry.Trace, error) {
	var id string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT trace_id FROM {p}traces WHERE `+where+` ORDER BY serve, first_event DESC LIMIT 1`), args...).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return telemetry.Trace{}, telemetry.ErrNotFound
	case err != nil:
		return telemetry.Trace{}, wrap(op, err)
	}
	tr, err := s.TraceGet(ctx, id)
	if err != nil && !errors.Is(err, telemetry.ErrNotFound) {
		return telemetry.Trace{}, fmt.Errorf("%s: %w", op, err)
	}
	return tr, err
}
