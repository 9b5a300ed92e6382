package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// This file is the task store. Each method is one transaction: it loads
// and locks the rows it needs, calls package task's rule function, and
// writes back what changed under a version check. Returned records are
// decoded from the JSON just written, so they equal what a later read
// returns.

// defaultRecoverLimit bounds one RunRecoverExpired call, as in memstore.
const defaultRecoverLimit = 50

// activeStatuses is the SQL list of [task.ActiveStatuses].
var activeStatuses = func() string {
	quoted := make([]string, len(task.ActiveStatuses))
	for i, st := range task.ActiveStatuses {
		quoted[i] = "'" + string(st) + "'"
	}
	return strings.Join(quoted, ", ")
}()

// heldStatuses is the SQL list of the statuses [task.RunStatus.Held]
// reports.
var heldStatuses = func() string {
	var quoted []string
	for _, st := range task.RunStatuses {
		if st.Held() {
			quoted = append(quoted, "'"+string(st)+"'")
		}
	}
	return strings.Join(quoted, ", ")
}()

// decode decodes a stored record.
func decode[T any](kind, data string) (*T, error) {
	v := new(T)
	if err := json.Unmarshal([]byte(data), v); err != nil {
		return nil, &dbError{fmt.Errorf("decode %s: %w", kind, err)}
	}
	return v, nil
}

// encode encodes a record for storage and returns it with the record as a
// later read will decode it.
func encode[T any](kind string, v *T) (string, *T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", nil, &dbError{fmt.Errorf("encode %s: %w", kind, err)}
	}
	out, err := decode[T](kind, string(b))
	return string(b), out, err
}

// lockMode says whether a load locks the row it reads (PostgreSQL FOR
// UPDATE; SQLite's write transactions hold the database lock already).
type lockMode bool

const (
	noLock   lockMode = false
	withLock lockMode = true
)

func (m lockMode) clause() string {
	if m {
		return "{lock}"
	}
	return ""
}

// loadOne reads one row's version and data, reporting found false when
// there is none.
func (s *Store) loadOne(ctx context.Context, q querier, query string, args ...any) (version int64, data string, found bool, err error) {
	err = q.QueryRowContext(ctx, s.q(query), args...).Scan(&version, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, "", false, nil
	case err != nil:
		return 0, "", false, dbErr(err)
	}
	return version, data, true, nil
}

// loadAgent returns the stored agent and its version, nil when none.
func (s *Store) loadAgent(ctx context.Context, q querier, id string, lock lockMode) (*task.AgentSpec, int64, error) {
	v, data, ok, err := s.loadOne(ctx, q, `SELECT version, data FROM {p}agents WHERE agent_id = ?`+lock.clause(), id)
	if err != nil || !ok {
		return nil, 0, err
	}
	a, err := decode[task.AgentSpec]("agent", data)
	return a, v, err
}

// loadTask returns the stored task and its version, nil when none.
func (s *Store) loadTask(ctx context.Context, q querier, id string, lock lockMode) (*task.Task, int64, error) {
	v, data, ok, err := s.loadOne(ctx, q, `SELECT version, data FROM {p}tasks WHERE task_id = ?`+lock.clause(), id)
	if err != nil || !ok {
		return nil, 0, err
	}
	t, err := decode[task.Task]("task", data)
	return t, v, err
}

// loadState returns the stored schedule state and its version, nil when
// none.
func (s *Store) loadState(ctx context.Context, q querier, id string, lock lockMode) (*task.ScheduleState, int64, error) {
	v, data, ok, err := s.loadOne(ctx, q, `SELECT version, data FROM {p}schedule_states WHERE task_id = ?`+lock.clause(), id)
	if err != nil || !ok {
		return nil, 0, err
	}
	st, err := decode[task.ScheduleState]("schedule state", data)
	return st, v, err
}

// taskAndState loads and locks a task and its schedule state, both
// required.
func (s *Store) taskAndState(ctx context.Context, q querier, id string, lock lockMode) (*task.Task, int64, *task.ScheduleState, int64, error) {
	t, tv, err := s.loadTask(ctx, q, id, lock)
	if err != nil {
		return nil, 0, nil, 0, err
	}
	if t == nil {
		return nil, 0, nil, 0, &task.NotFoundError{Kind: "task", ID: id}
	}
	st, sv, err := s.loadState(ctx, q, id, lock)
	if err != nil {
		return nil, 0, nil, 0, err
	}
	if st == nil {
		return nil, 0, nil, 0, &task.NotFoundError{Kind: "schedule state", ID: id}
	}
	return t, tv, st, sv, nil
}

// loadRun returns the stored run and its version, nil when none.
func (s *Store) loadRun(ctx context.Context, q querier, id string, lock lockMode) (*task.Run, int64, error) {
	v, data, ok, err := s.loadOne(ctx, q, `SELECT version, data FROM {p}runs WHERE run_id = ?`+lock.clause(), id)
	if err != nil || !ok {
		return nil, 0, err
	}
	r, err := decode[task.Run]("run", data)
	return r, v, err
}

// mustRun is loadRun with a missing run as [task.NotFoundError].
func (s *Store) mustRun(ctx context.Context, q querier, id string, lock lockMode) (*task.Run, int64, error) {
	r, v, err := s.loadRun(ctx, q, id, lock)
	if err == nil && r == nil {
		err = &task.NotFoundError{Kind: "run", ID: id}
	}
	return r, v, err
}

// versioned is a loaded run and the version it was loaded at.
type versioned struct {
	run     *task.Run
	version int64
}

// loadRuns reads runs with a query selecting version and data.
func (s *Store) loadRuns(ctx context.Context, q querier, query string, args ...any) ([]versioned, error) {
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, dbErr(err)
	}
	var out []versioned
	err = scanEach(rows, func(r *sql.Rows) error {
		var (
			v    int64
			data string
		)
		if err := r.Scan(&v, &data); err != nil {
			return err
		}
		run, err := decode[task.Run]("run", data)
		if err != nil {
			return err
		}
		out = append(out, versioned{run, v})
		return nil
	})
	return out, dbErr(err)
}

// activeRuns returns the task's active runs in claim order. It reads
// them through the (task_id, status) index, so its cost follows the
// task's unfinished runs, not its history; it sorts them here, because
// an ORDER BY tempts SQLite into walking the task's whole history in
// (queued_at, run_id) order. Callers that lock hold the task's row, so
// the order locks are taken in does not matter.
func (s *Store) activeRuns(ctx context.Context, q querier, taskID string, lock lockMode) ([]*task.Run, map[string]int64, error) {
	vs, err := s.loadRuns(ctx, q, `SELECT version, data FROM {p}runs WHERE task_id = ? AND status IN (`+activeStatuses+`)`+lock.clause(), taskID)
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(vs, func(a, b versioned) int { return task.CompareRunOrder(a.run, b.run) })
	runs := make([]*task.Run, len(vs))
	versions := make(map[string]int64, len(vs))
	for i, v := range vs {
		runs[i] = v.run
		versions[v.run.RunID] = v.version
	}
	return runs, versions, nil
}

// currentAttempt returns the run's latest attempt and its version, nil
// when none.
func (s *Store) currentAttempt(ctx context.Context, q querier, runID string, lock lockMode) (*task.Attempt, int64, error) {
	v, data, ok, err := s.loadOne(ctx, q, `SELECT version, data FROM {p}attempts WHERE run_id = ?
		ORDER BY attempt_number DESC LIMIT 1`+lock.clause(), runID)
	if err != nil || !ok {
		return nil, 0, err
	}
	a, err := decode[task.Attempt]("attempt", data)
	return a, v, err
}

// exists reports whether the query returns a row.
func (s *Store) exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, s.q(query), args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, dbErr(err)
	}
	return true, nil
}

// runIDFree reports whether id may name a new run; empty means a
// generated id.
func (s *Store) runIDFree(ctx context.Context, q querier, id string) error {
	if id == "" {
		return nil
	}
	taken, err := s.exists(ctx, q, `SELECT 1 FROM {p}runs WHERE run_id = ?`, id)
	if err != nil {
		return err
	}
	if taken {
		return &task.AlreadyExistsError{Kind: "run", ID: id}
	}
	return nil
}

// putAgent writes a; version 0 inserts.
func (s *Store) putAgent(ctx context.Context, tx *sql.Tx, a *task.AgentSpec, version int64) (*task.AgentSpec, error) {
	data, out, err := encode("agent", a)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO {p}agents (agent_id, created_at, version, data) VALUES (?, ?, 1, ?)`),
			a.AgentID, micros(a.CreatedAt), data)
		return out, dbErr(err)
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE {p}agents SET created_at = ?, version = version + 1, data = ? WHERE agent_id = ? AND version = ?`),
		micros(a.CreatedAt), data, a.AgentID, version)
	return out, checkUpdated(res, err)
}

// putTask writes t; version 0 inserts.
func (s *Store) putTask(ctx context.Context, tx *sql.Tx, t *task.Task, version int64) (*task.Task, error) {
	data, out, err := encode("task", t)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO {p}tasks (task_id, agent_id, enabled, created_at, version, data) VALUES (?, ?, ?, ?, 1, ?)`),
			t.TaskID, t.AgentID, flag(t.Enabled), micros(t.CreatedAt), data)
		return out, dbErr(err)
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE {p}tasks SET agent_id = ?, enabled = ?, created_at = ?, version = version + 1, data = ?
		WHERE task_id = ? AND version = ?`),
		t.AgentID, flag(t.Enabled), micros(t.CreatedAt), data, t.TaskID, version)
	return out, checkUpdated(res, err)
}

// putState writes st; version 0 inserts.
func (s *Store) putState(ctx context.Context, tx *sql.Tx, st *task.ScheduleState, version int64) (*task.ScheduleState, error) {
	data, out, err := encode("schedule state", st)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO {p}schedule_states (task_id, paused, next_due_at, version, data) VALUES (?, ?, ?, 1, ?)`),
			st.TaskID, flag(st.Paused), microsPtr(st.NextDueAt), data)
		return out, dbErr(err)
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE {p}schedule_states SET paused = ?, next_due_at = ?, version = version + 1, data = ?
		WHERE task_id = ? AND version = ?`),
		flag(st.Paused), microsPtr(st.NextDueAt), data, st.TaskID, version)
	return out, checkUpdated(res, err)
}

// insertRun writes a new run.
func (s *Store) insertRun(ctx context.Context, tx *sql.Tx, r *task.Run) (*task.Run, error) {
	data, out, err := encode("run", r)
	if err != nil {
		return nil, err
	}
	var occurrence any
	if r.OccurrenceID != "" {
		occurrence = r.OccurrenceID
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO {p}runs (run_id, task_id, agent_id, status, overlap_policy, queued_at, triggered_at,
		lease_expires_at, cancel_requested, occurrence_key, version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`),
		r.RunID, r.TaskID, r.AgentID, string(r.Status), string(r.OverlapPolicy), micros(r.QueuedAt), micros(r.TriggeredAt),
		microsPtr(r.LeaseExpiresAt), flag(r.CancelRequestedAt != nil), occurrence, data)
	return out, dbErr(err)
}

// updateRun writes a changed run loaded at version. The fields a run
// never changes after creation (task, agent, trigger time, overlap
// policy, occurrence) are left alone.
func (s *Store) updateRun(ctx context.Context, tx *sql.Tx, r *task.Run, version int64) (*task.Run, error) {
	data, out, err := encode("run", r)
	if err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE {p}runs SET status = ?, queued_at = ?, lease_expires_at = ?, cancel_requested = ?,
		version = version + 1, data = ? WHERE run_id = ? AND version = ?`),
		string(r.Status), micros(r.QueuedAt), microsPtr(r.LeaseExpiresAt), flag(r.CancelRequestedAt != nil), data, r.RunID, version)
	return out, checkUpdated(res, err)
}

// putAttempt writes a; version 0 inserts.
func (s *Store) putAttempt(ctx context.Context, tx *sql.Tx, a *task.Attempt, version int64) (*task.Attempt, error) {
	data, out, err := encode("attempt", a)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO {p}attempts (attempt_id, run_id, attempt_number, version, data) VALUES (?, ?, ?, 1, ?)`),
			a.AttemptID, a.RunID, a.AttemptNumber, data)
		return out, dbErr(err)
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE {p}attempts SET version = version + 1, data = ? WHERE attempt_id = ? AND version = ?`),
		data, a.AttemptID, version)
	return out, checkUpdated(res, err)
}

// AgentUpsert implements [task.Store].
func (s *Store) AgentUpsert(ctx context.Context, p *task.AgentUpsertParams) (*task.AgentSpec, error) {
	var out *task.AgentSpec
	err := s.inTx(ctx, "upsert agent", func(tx *sql.Tx) error {
		existing, version, err := s.loadAgent(ctx, tx, p.Spec.AgentID, withLock)
		if err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		a, err := task.PrepareAgentUpsert(p, existing, now)
		if err != nil {
			return err
		}
		out, err = s.putAgent(ctx, tx, a, version)
		return err
	})
	return out, err
}

// AgentGet implements [task.Store].
func (s *Store) AgentGet(ctx context.Context, p *task.AgentGetParams) (*task.AgentSpec, error) {
	a, _, err := s.loadAgent(ctx, s.db, p.AgentID, noLock)
	if err != nil {
		return nil, wrap("get agent", err)
	}
	if a == nil {
		return nil, &task.NotFoundError{Kind: "agent", ID: p.AgentID}
	}
	return a, nil
}

// AgentList implements [task.Store].
func (s *Store) AgentList(ctx context.Context, _ *task.AgentListParams) ([]*task.AgentSpec, error) {
	out, err := listRecords[task.AgentSpec](ctx, s, "agent", `SELECT data FROM {p}agents ORDER BY created_at, agent_id`)
	if err != nil {
		return nil, wrap("list agents", err)
	}
	return out, nil
}

// listRecords decodes the data column of every row the query returns.
func listRecords[T any](ctx context.Context, s *Store, kind, query string, args ...any) ([]*T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	out := []*T{}
	err = scanEach(rows, func(r *sql.Rows) error {
		var data string
		if err := r.Scan(&data); err != nil {
			return err
		}
		v, err := decode[T](kind, data)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// AgentDelete implements [task.Store].
func (s *Store) AgentDelete(ctx context.Context, p *task.AgentDeleteParams) error {
	return s.inTx(ctx, "delete agent", func(tx *sql.Tx) error {
		a, _, err := s.loadAgent(ctx, tx, p.AgentID, withLock)
		if err != nil {
			return err
		}
		if a == nil {
			return &task.NotFoundError{Kind: "agent", ID: p.AgentID}
		}
		var active int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM {p}runs WHERE agent_id = ? AND status IN (`+activeStatuses+`)`),
			p.AgentID).Scan(&active); err != nil {
			return dbErr(err)
		}
		if err := task.CheckAgentDelete(p, active); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM {p}agents WHERE agent_id = ?`), p.AgentID)
		return dbErr(err)
	})
}

// TaskCreate implements [task.Store].
func (s *Store) TaskCreate(ctx context.Context, p *task.TaskCreateParams) (*task.Task, error) {
	var out *task.Task
	err := s.inTx(ctx, "create task", func(tx *sql.Tx) error {
		// The agent row is share-locked so it cannot be deleted under
		// the new task.
		agentExists, err := s.exists(ctx, tx, `SELECT 1 FROM {p}agents WHERE agent_id = ?{share}`, p.Task.AgentID)
		if err != nil {
			return err
		}
		existing, tv, err := s.loadTask(ctx, tx, p.Task.TaskID, withLock)
		if err != nil {
			return err
		}
		existingState, sv, err := s.loadState(ctx, tx, p.Task.TaskID, withLock)
		if err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		t, st, err := task.PrepareTaskCreate(p, agentExists, existing, existingState, now)
		if err != nil {
			return err
		}
		if out, err = s.putTask(ctx, tx, t, tv); err != nil {
			return err
		}
		_, err = s.putState(ctx, tx, st, sv)
		return err
	})
	return out, err
}

// TaskGet implements [task.Store].
func (s *Store) TaskGet(ctx context.Context, p *task.TaskGetParams) (*task.Task, error) {
	t, _, err := s.loadTask(ctx, s.db, p.TaskID, noLock)
	if err != nil {
		return nil, wrap("get task", err)
	}
	if t == nil {
		return nil, &task.NotFoundError{Kind: "task", ID: p.TaskID}
	}
	return t, nil
}

// TaskList implements [task.Store].
func (s *Store) TaskList(ctx context.Context, p *task.TaskListParams) ([]*task.Task, error) {
	query, args := `SELECT data FROM {p}tasks ORDER BY created_at, task_id`, []any(nil)
	if p.AgentID != "" {
		query, args = `SELECT data FROM {p}tasks WHERE agent_id = ? ORDER BY created_at, task_id`, []any{p.AgentID}
	}
	out, err := listRecords[task.Task](ctx, s, "task", query, args...)
	if err != nil {
		return nil, wrap("list tasks", err)
	}
	return out, nil
}

// TaskUpdate implements [task.Store].
func (s *Store) TaskUpdate(ctx context.Context, p *task.TaskUpdateParams) (*task.Task, error) {
	var out *task.Task
	err := s.inTx(ctx, "update task", func(tx *sql.Tx) error {
		t, tv, st, sv, err := s.taskAndState(ctx, tx, p.TaskID, withLock)
		if err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		nt, ns, err := task.PrepareTaskUpdate(t, st, p, now)
		if err != nil {
			return err
		}
		if out, err = s.putTask(ctx, tx, nt, tv); err != nil {
			return err
		}
		_, err = s.putState(ctx, tx, ns, sv)
		return err
	})
	return out, err
}

// TaskDelete implements [task.Store]. Kept runs lose their occurrence key,
// so they no longer dedupe the occurrences of a task re-created under the
// same id.
func (s *Store) TaskDelete(ctx context.Context, p *task.TaskDeleteParams) error {
	return s.inTx(ctx, "delete task", func(tx *sql.Tx) error {
		t, _, err := s.loadTask(ctx, tx, p.TaskID, withLock)
		if err != nil {
			return err
		}
		if t == nil {
			return &task.NotFoundError{Kind: "task", ID: p.TaskID}
		}
		stmts := []string{
			`DELETE FROM {p}schedule_states WHERE task_id = ?`,
			`DELETE FROM {p}tasks WHERE task_id = ?`,
		}
		if p.DeleteRuns {
			// Runs are locked before their attempts, in the order every
			// other write takes them, so deleting cannot deadlock with a
			// run's holder.
			rows, err := tx.QueryContext(ctx, s.q(`SELECT run_id FROM {p}runs WHERE task_id = ? ORDER BY queued_at, run_id{lock}`), p.TaskID)
			if err != nil {
				return dbErr(err)
			}
			if err := scanEach(rows, func(*sql.Rows) error { return nil }); err != nil {
				return dbErr(err)
			}
			stmts = append(stmts,
				`DELETE FROM {p}attempts WHERE run_id IN (SELECT run_id FROM {p}runs WHERE task_id = ?)`,
				`DELETE FROM {p}runs WHERE task_id = ?`)
		} else {
			stmts = append(stmts, `UPDATE {p}runs SET occurrence_key = NULL WHERE task_id = ? AND occurrence_key IS NOT NULL`)
		}
		for _, stmt := range stmts {
			if _, err := tx.ExecContext(ctx, s.q(stmt), p.TaskID); err != nil {
				return dbErr(err)
			}
		}
		return nil
	})
}

// ScheduleStateGet implements [task.Store].
func (s *Store) ScheduleStateGet(ctx context.Context, p *task.ScheduleStateGetParams) (*task.ScheduleState, error) {
	_, _, st, _, err := s.taskAndState(ctx, s.db, p.TaskID, noLock)
	if err != nil {
		return nil, wrapRead("get schedule state", err)
	}
	return st, nil
}

// wrapRead names op in a database error of a read; the rules' errors,
// such as not found, pass through.
func wrapRead(op string, err error) error {
	var dbe *dbError
	if errors.As(err, &dbe) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return err
}

// ScheduleSetPaused implements [task.Store].
func (s *Store) ScheduleSetPaused(ctx context.Context, p *task.ScheduleSetPausedParams) (*task.ScheduleState, error) {
	var out *task.ScheduleState
	err := s.inTx(ctx, "pause schedule", func(tx *sql.Tx) error {
		_, _, st, sv, err := s.taskAndState(ctx, tx, p.TaskID, withLock)
		if err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		out, err = s.putState(ctx, tx, task.PrepareScheduleSetPaused(st, p, now), sv)
		return err
	})
	return out, err
}

// ScheduleDueList implements [task.Store].
func (s *Store) ScheduleDueList(ctx context.Context, p *task.ScheduleDueListParams) ([]*task.DueSchedule, error) {
	now, err := s.now(ctx, s.db)
	if err != nil {
		return nil, wrap("list due schedules", err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = task.DefaultDueLimit
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT t.data, s.data FROM {p}schedule_states s JOIN {p}tasks t ON t.task_id = s.task_id
		WHERE s.paused = 0 AND s.next_due_at IS NOT NULL AND s.next_due_at <= ? AND t.enabled = 1
		ORDER BY s.next_due_at, s.task_id LIMIT ?`), micros(now), limit)
	if err != nil {
		return nil, wrap("list due schedules", err)
	}
	var out []*task.DueSchedule
	err = scanEach(rows, func(r *sql.Rows) error {
		var tdata, sdata string
		if err := r.Scan(&tdata, &sdata); err != nil {
			return err
		}
		t, err := decode[task.Task]("task", tdata)
		if err != nil {
			return err
		}
		st, err := decode[task.ScheduleState]("schedule state", sdata)
		if err != nil {
			return err
		}
		if !task.ScheduleDue(t, st, now) {
			return nil
		}
		plan, err := task.PlanDue(t, st, now, limit)
		if err != nil {
			return err
		}
		out = append(out, &task.DueSchedule{Task: *t, State: *st, Plan: plan})
		return nil
	})
	if err != nil {
		return nil, wrap("list due schedules", err)
	}
	return out, nil
}

// ScheduleAdvance implements [task.Store].
func (s *Store) ScheduleAdvance(ctx context.Context, p *task.ScheduleAdvanceParams) (*task.ScheduleState, error) {
	var out *task.ScheduleState
	err := s.inTx(ctx, "advance schedule", func(tx *sql.Tx) error {
		t, _, st, sv, err := s.taskAndState(ctx, tx, p.TaskID, withLock)
		if err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		ns, err := task.PrepareScheduleAdvance(t, st, p, now)
		if err != nil {
			return err
		}
		out, err = s.putState(ctx, tx, ns, sv)
		return err
	})
	return out, err
}

// RunDispatchScheduled implements [task.Store]. The task and schedule
// rows are locked first, so concurrent dispatches of one task queue and
// each sees the occurrences the others recorded; the unique occurrence
// index backs that up.
func (s *Store) RunDispatchScheduled(ctx context.Context, p *task.RunDispatchScheduledParams) (*task.RunCreateResult, error) {
	var out *task.RunCreateResult
	err := s.inTx(ctx, "dispatch run", func(tx *sql.Tx) error {
		out = nil
		t, _, st, sv, err := s.taskAndState(ctx, tx, p.TaskID, withLock)
		if err != nil {
			return err
		}
		_, data, ok, err := s.loadOne(ctx, tx, `SELECT version, data FROM {p}runs WHERE task_id = ? AND occurrence_key = ?`,
			p.TaskID, p.Occurrence.ID)
		if err != nil {
			return err
		}
		if ok {
			r, err := decode[task.Run]("run", data)
			if err != nil {
				return err
			}
			out = &task.RunCreateResult{Run: r}
			return nil
		}
		if err := s.runIDFree(ctx, tx, p.RunID); err != nil {
			return err
		}
		var (
			active   []*task.Run
			versions map[string]int64
		)
		if t.OverlapPolicy.ConsultsActiveRuns() {
			active, versions, err = s.activeRuns(ctx, tx, p.TaskID, withLock)
			if err != nil {
				return err
			}
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		res, ns, err := task.PrepareDispatch(t, st, p, active, now)
		if err != nil {
			return err
		}
		if err := s.runIDFree(ctx, tx, res.Run.RunID); err != nil {
			return err
		}
		if _, err := s.putState(ctx, tx, ns, sv); err != nil {
			return err
		}
		out, err = s.keepCreated(ctx, tx, res, versions)
		return err
	})
	return out, err
}

// RunCreateManual implements [task.Store]. The task row is locked first,
// so concurrent creations see each other's runs through the overlap
// policy.
func (s *Store) RunCreateManual(ctx context.Context, p *task.RunCreateManualParams) (*task.RunCreateResult, error) {
	var out *task.RunCreateResult
	err := s.inTx(ctx, "create run", func(tx *sql.Tx) error {
		out = nil
		t, _, err := s.loadTask(ctx, tx, p.TaskID, withLock)
		if err != nil {
			return err
		}
		if t == nil {
			return &task.NotFoundError{Kind: "task", ID: p.TaskID}
		}
		if err := s.runIDFree(ctx, tx, p.RunID); err != nil {
			return err
		}
		var (
			active   []*task.Run
			versions map[string]int64
		)
		if t.OverlapPolicy.ConsultsActiveRuns() {
			active, versions, err = s.activeRuns(ctx, tx, p.TaskID, withLock)
			if err != nil {
				return err
			}
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		res, err := task.PrepareManualRun(t, p, active, now)
		if err != nil {
			return err
		}
		if err := s.runIDFree(ctx, tx, res.Run.RunID); err != nil {
			return err
		}
		out, err = s.keepCreated(ctx, tx, res, versions)
		return err
	})
	return out, err
}

// keepCreated writes a new run and the runs its overlap policy changed.
func (s *Store) keepCreated(ctx context.Context, tx *sql.Tx, res *task.RunCreateResult, versions map[string]int64) (*task.RunCreateResult, error) {
	r, err := s.insertRun(ctx, tx, res.Run)
	if err != nil {
		return nil, err
	}
	out := &task.RunCreateResult{Run: r, Created: true}
	for _, c := range res.Cancelled {
		written, err := s.updateRun(ctx, tx, c, versions[c.RunID])
		if err != nil {
			return nil, err
		}
		out.Cancelled = append(out.Cancelled, written)
	}
	return out, nil
}

// claimBatch is how many candidates one claim query returns. The query
// already applies every claim rule, so the first candidate is nearly
// always taken and the rest would be decoded for nothing. PostgreSQL also
// locks every row it returns, so it takes one at a time to leave the rest
// to concurrent claimers.
func (s *Store) claimBatch() int {
	if s.dialect == dialectPostgres {
		return 1
	}
	return 4
}

// RunClaim implements [task.Store]. Candidates come oldest first from the
// claim index, already filtered in SQL by the queue_next rule (an earlier
// unfinished run of the same task blocks them); [task.Claimable] and
// [task.Blocked] then decide, as in every backend. On PostgreSQL the
// query skips rows other claimers hold, so concurrent claims never queue
// on one another.
func (s *Store) RunClaim(ctx context.Context, p *task.RunClaimParams) (*task.Run, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var out *task.Run
	err := s.inTx(ctx, "claim run", func(tx *sql.Tx) error {
		out = nil
		try := func(c versioned, now time.Time) (bool, error) {
			if !task.Claimable(c.run, now) {
				return false, nil
			}
			if c.run.OverlapPolicy == task.OverlapQueueNext {
				others, _, err := s.activeRuns(ctx, tx, c.run.TaskID, noLock)
				if err != nil {
					return false, err
				}
				if task.Blocked(c.run, others) {
					return false, nil
				}
			}
			if err := task.ApplyClaim(c.run, p, now); err != nil {
				return false, err
			}
			var err error
			out, err = s.updateRun(ctx, tx, c.run, c.version)
			return err == nil, err
		}
		if p.RunID != "" {
			r, v, err := s.loadRun(ctx, tx, p.RunID, withLock)
			if err != nil || r == nil {
				return err
			}
			now, err := s.now(ctx, tx)
			if err != nil {
				return err
			}
			_, err = try(versioned{r, v}, now)
			return err
		}
		// Candidates are locked with SKIP LOCKED, so no wait separates
		// reading the clock from holding the row.
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		afterAt, afterID := int64(math.MinInt64), ""
		for {
			batch, err := s.loadRuns(ctx, tx, `SELECT version, data FROM {p}runs r
				WHERE status = 'queued' AND cancel_requested = 0 AND queued_at <= ? AND (queued_at, run_id) > (?, ?)
				AND (overlap_policy <> 'queue_next' OR NOT EXISTS (
					SELECT 1 FROM {p}runs o WHERE o.task_id = r.task_id AND o.status IN (`+activeStatuses+`)
					AND (o.triggered_at < r.triggered_at OR (o.triggered_at = r.triggered_at AND o.run_id < r.run_id))))
				ORDER BY queued_at, run_id LIMIT ?{skiplocked}`,
				micros(now), afterAt, afterID, s.claimBatch())
			if err != nil {
				return err
			}
			for _, c := range batch {
				if done, err := try(c, now); done || err != nil {
					return err
				}
			}
			if len(batch) < s.claimBatch() {
				return nil
			}
			last := batch[len(batch)-1].run
			afterAt, afterID = micros(last.QueuedAt), last.RunID
		}
	})
	return out, err
}

// LeaseRenew implements [task.Store].
func (s *Store) LeaseRenew(ctx context.Context, p *task.LeaseRenewParams) (*task.Run, error) {
	return s.changeRun(ctx, "renew lease", p.RunID, func(r *task.Run, _ *task.Attempt, now time.Time) error {
		return task.ApplyLeaseRenew(r, p, now)
	}, runOnly)
}

// RunStart implements [task.Store].
func (s *Store) RunStart(ctx context.Context, p *task.RunStartParams) (*task.Run, error) {
	return s.changeRun(ctx, "start run", p.RunID, func(r *task.Run, _ *task.Attempt, now time.Time) error {
		return task.ApplyStart(r, p, now)
	}, runOnly)
}

// RunHeartbeat implements [task.Store].
func (s *Store) RunHeartbeat(ctx context.Context, p *task.RunHeartbeatParams) (*task.Run, error) {
	return s.changeRun(ctx, "heartbeat run", p.RunID, func(r *task.Run, _ *task.Attempt, now time.Time) error {
		return task.ApplyHeartbeat(r, p, now)
	}, runOnly)
}

// RunFinish implements [task.Store].
func (s *Store) RunFinish(ctx context.Context, p *task.RunFinishParams) (*task.Run, error) {
	return s.changeRun(ctx, "finish run", p.RunID, func(r *task.Run, a *task.Attempt, now time.Time) error {
		return task.ApplyFinish(r, a, p, now)
	}, runAndAttempt)
}

// RunRetry implements [task.Store].
func (s *Store) RunRetry(ctx context.Context, p *task.RunRetryParams) (*task.Run, error) {
	return s.changeRun(ctx, "retry run", p.RunID, func(r *task.Run, a *task.Attempt, now time.Time) error {
		return task.ApplyRetry(r, a, p, now)
	}, runAndAttempt)
}

// RunRelease implements [task.Store].
func (s *Store) RunRelease(ctx context.Context, p *task.RunReleaseParams) (*task.Run, error) {
	return s.changeRun(ctx, "release run", p.RunID, func(r *task.Run, _ *task.Attempt, now time.Time) error {
		return task.ApplyRelease(r, p, now)
	}, runOnly)
}

// RunCancel implements [task.Store].
func (s *Store) RunCancel(ctx context.Context, p *task.RunCancelParams) (*task.Run, error) {
	return s.changeRun(ctx, "cancel run", p.RunID, func(r *task.Run, _ *task.Attempt, now time.Time) error {
		task.ApplyCancel(r, now)
		return nil
	}, runOnly)
}

// attemptMode says whether [Store.changeRun] loads the run's attempt.
type attemptMode bool

const (
	runOnly       attemptMode = false
	runAndAttempt attemptMode = true
)

// changeRun applies fn to the locked run id and, with runAndAttempt, its
// latest attempt (nil when none), and writes back what fn changed.
func (s *Store) changeRun(ctx context.Context, op, id string, fn func(*task.Run, *task.Attempt, time.Time) error, mode attemptMode) (*task.Run, error) {
	var out *task.Run
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		r, rv, err := s.mustRun(ctx, tx, id, withLock)
		if err != nil {
			return err
		}
		var (
			a      *task.Attempt
			av     int64
			before string
		)
		if mode == runAndAttempt {
			if a, av, err = s.currentAttempt(ctx, tx, id, withLock); err != nil {
				return err
			}
			before = attemptJSON(a)
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		if err := fn(r, a, now); err != nil {
			return err
		}
		if out, err = s.updateRun(ctx, tx, r, rv); err != nil {
			return err
		}
		if a != nil && attemptJSON(a) != before {
			_, err = s.putAttempt(ctx, tx, a, av)
		}
		return err
	})
	return out, err
}

// attemptJSON renders a for change detection.
func attemptJSON(a *task.Attempt) string {
	if a == nil {
		return ""
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// RunRecoverExpired implements [task.Store]. On PostgreSQL it skips runs
// another process is recovering or writing, so concurrent sweepers split
// the work.
func (s *Store) RunRecoverExpired(ctx context.Context, p *task.RunRecoverExpiredParams) ([]*task.RunRecovery, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultRecoverLimit
	}
	var out []*task.RunRecovery
	err := s.inTx(ctx, "recover expired runs", func(tx *sql.Tx) error {
		out = nil
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		expired, err := s.loadRuns(ctx, tx, `SELECT version, data FROM {p}runs
			WHERE lease_expires_at IS NOT NULL AND lease_expires_at <= ? AND status IN (`+heldStatuses+`)
			ORDER BY lease_expires_at, run_id LIMIT ?{skiplocked}`, micros(now), limit)
		if err != nil {
			return err
		}
		for _, e := range expired {
			r, prev := e.run, e.run.Status
			a, av, err := s.currentAttempt(ctx, tx, r.RunID, withLock)
			if err != nil {
				return err
			}
			taskExists, err := s.exists(ctx, tx, `SELECT 1 FROM {p}tasks WHERE task_id = ?`, r.TaskID)
			if err != nil {
				return err
			}
			before := attemptJSON(a)
			outcome, ok := task.ApplyRecover(r, a, taskExists, now)
			if !ok {
				continue
			}
			written, err := s.updateRun(ctx, tx, r, e.version)
			if err != nil {
				return err
			}
			if a != nil && attemptJSON(a) != before {
				if _, err := s.putAttempt(ctx, tx, a, av); err != nil {
					return err
				}
			}
			out = append(out, &task.RunRecovery{Run: written, PreviousStatus: prev, Outcome: outcome})
		}
		return nil
	})
	return out, err
}

// RunGet implements [task.Store].
func (s *Store) RunGet(ctx context.Context, p *task.RunGetParams) (*task.Run, error) {
	r, _, err := s.mustRun(ctx, s.db, p.RunID, noLock)
	if err != nil {
		return nil, wrapRead("get run", err)
	}
	return r, nil
}

// runFilter renders the task, agent and status filters of lists and
// counts.
func runFilter(taskID, agentID string, statuses []task.RunStatus) ([]string, []any) {
	var (
		conds []string
		args  []any
	)
	if taskID != "" {
		conds = append(conds, "task_id = ?")
		args = append(args, taskID)
	}
	if agentID != "" {
		conds = append(conds, "agent_id = ?")
		args = append(args, agentID)
	}
	if len(statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(statuses))+")")
		for _, st := range statuses {
			args = append(args, string(st))
		}
	}
	return conds, args
}

// RunList implements [task.Store].
func (s *Store) RunList(ctx context.Context, p *task.RunListParams) ([]*task.Run, error) {
	conds, args := runFilter(p.TaskID, p.AgentID, p.Statuses)
	if p.After != nil {
		conds = append(conds, "(queued_at, run_id) > (?, ?)")
		args = append(args, micros(p.After.QueuedAt), p.After.RunID)
	}
	query := `SELECT data FROM {p}runs`
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, " AND ")
	}
	query += ` ORDER BY queued_at, run_id`
	if p.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, p.Limit)
	}
	runs, err := listRecords[task.Run](ctx, s, "run", query, args...)
	if err != nil {
		return nil, wrap("list runs", err)
	}
	kept := runs[:0]
	for _, r := range runs {
		if p.Matches(r) {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

// RunCountByStatus implements [task.Store].
func (s *Store) RunCountByStatus(ctx context.Context, p *task.RunCountByStatusParams) (map[task.RunStatus]int, error) {
	conds, args := runFilter(p.TaskID, p.AgentID, nil)
	query := `SELECT status, COUNT(*) FROM {p}runs`
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` GROUP BY status`), args...)
	if err != nil {
		return nil, wrap("count runs", err)
	}
	counts := task.NewStatusCounts()
	err = scanEach(rows, func(r *sql.Rows) error {
		var (
			status string
			n      int
		)
		if err := r.Scan(&status, &n); err != nil {
			return err
		}
		counts[task.RunStatus(status)] = n
		return nil
	})
	if err != nil {
		return nil, wrap("count runs", err)
	}
	return counts, nil
}

// AttemptCreate implements [task.Store].
func (s *Store) AttemptCreate(ctx context.Context, p *task.AttemptCreateParams) (*task.Attempt, error) {
	var out *task.Attempt
	err := s.inTx(ctx, "create attempt", func(tx *sql.Tx) error {
		r, rv, err := s.mustRun(ctx, tx, p.RunID, withLock)
		if err != nil {
			return err
		}
		last, _, err := s.currentAttempt(ctx, tx, p.RunID, withLock)
		if err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		a, err := task.PrepareAttempt(r, last, p, now)
		if err != nil {
			return err
		}
		taken, err := s.exists(ctx, tx, `SELECT 1 FROM {p}attempts WHERE attempt_id = ?`, a.AttemptID)
		if err != nil {
			return err
		}
		if taken {
			return &task.AlreadyExistsError{Kind: "attempt", ID: a.AttemptID}
		}
		if _, err := s.updateRun(ctx, tx, r, rv); err != nil {
			return err
		}
		out, err = s.putAttempt(ctx, tx, a, 0)
		return err
	})
	return out, err
}

// AttemptList implements [task.Store].
func (s *Store) AttemptList(ctx context.Context, p *task.AttemptListParams) ([]*task.Attempt, error) {
	found, err := s.exists(ctx, s.db, `SELECT 1 FROM {p}runs WHERE run_id = ?`, p.RunID)
	if err != nil {
		return nil, wrap("list attempts", err)
	}
	if !found {
		return nil, &task.NotFoundError{Kind: "run", ID: p.RunID}
	}
	out, err := listRecords[task.Attempt](ctx, s, "attempt", `SELECT data FROM {p}attempts WHERE run_id = ? ORDER BY attempt_number`, p.RunID)
	if err != nil {
		return nil, wrap("list attempts", err)
	}
	return out, nil
}
