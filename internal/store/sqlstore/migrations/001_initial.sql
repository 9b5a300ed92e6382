-- The initial schema. {p} is the table prefix; {id} the dialect's
-- autoincrement primary key. Times are Unix microseconds; flags 0 or 1;
-- data columns hold the record as JSON text, kept byte for byte.

-- Task store: one row per entity, version for compare-and-swap.
CREATE TABLE {p}agents (
    agent_id   TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX {p}agents_created ON {p}agents (created_at, agent_id);

CREATE TABLE {p}tasks (
    task_id    TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX {p}tasks_created ON {p}tasks (created_at, task_id);
CREATE INDEX {p}tasks_agent ON {p}tasks (agent_id, created_at, task_id);

CREATE TABLE {p}schedule_states (
    task_id     TEXT PRIMARY KEY,
    paused      INTEGER NOT NULL,
    next_due_at BIGINT,
    version     BIGINT NOT NULL,
    data        TEXT NOT NULL
);
-- Due schedules.
CREATE INDEX {p}schedule_states_due ON {p}schedule_states (paused, next_due_at, task_id);

CREATE TABLE {p}runs (
    run_id           TEXT PRIMARY KEY,
    task_id          TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    overlap_policy   TEXT NOT NULL,
    queued_at        BIGINT NOT NULL,
    triggered_at     BIGINT NOT NULL,
    lease_expires_at BIGINT,
    cancel_requested INTEGER NOT NULL,
    -- occurrence_key dedupes scheduled dispatch; NULL for manual runs and
    -- for runs whose task was deleted (they no longer dedupe).
    occurrence_key   TEXT,
    version          BIGINT NOT NULL,
    data             TEXT NOT NULL
);
-- Claims and status lists: queued runs in (queued_at, run_id) order.
CREATE INDEX {p}runs_claim ON {p}runs (status, queued_at, run_id);
-- The overlap guard and per-task counts: a task's runs by status.
CREATE INDEX {p}runs_task_status ON {p}runs (task_id, status);
-- Per-task lists.
CREATE INDEX {p}runs_task_order ON {p}runs (task_id, queued_at, run_id);
-- Busy-agent checks and per-agent lists and counts.
CREATE INDEX {p}runs_agent_status ON {p}runs (agent_id, status);
-- Unfiltered lists.
CREATE INDEX {p}runs_order ON {p}runs (queued_at, run_id);
-- The lease sweeper: held runs by expiry.
CREATE INDEX {p}runs_lease ON {p}runs (lease_expires_at, run_id) WHERE lease_expires_at IS NOT NULL;
-- Scheduled dispatch: one run per occurrence of a task.
CREATE UNIQUE INDEX {p}runs_occurrence ON {p}runs (task_id, occurrence_key);

CREATE TABLE {p}attempts (
    attempt_id     TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL,
    attempt_number INTEGER NOT NULL,
    version        BIGINT NOT NULL,
    data           TEXT NOT NULL
);
CREATE UNIQUE INDEX {p}attempts_run ON {p}attempts (run_id, attempt_number);

-- Telemetry: the append-only event log. id orders events store-wide and
-- is the EventQuery cursor; (session_id, sequence) is the session log.
CREATE TABLE {p}events (
    id         {id},
    session_id TEXT NOT NULL,
    sequence   BIGINT NOT NULL,
    event_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    trace_id   TEXT NOT NULL,
    -- run_id is the event's run: its field, else metadata.run_id.
    run_id     TEXT NOT NULL,
    -- task_id is metadata.task_id.
    task_id    TEXT NOT NULL,
    data       TEXT NOT NULL
);
CREATE UNIQUE INDEX {p}events_session ON {p}events (session_id, sequence);
CREATE INDEX {p}events_session_id ON {p}events (session_id, id);
CREATE INDEX {p}events_trace ON {p}events (trace_id, id);
CREATE INDEX {p}events_run ON {p}events (run_id, id);
CREATE INDEX {p}events_task ON {p}events (task_id, id);

-- One counter row per session hands out sequence numbers.
CREATE TABLE {p}event_sessions (
    session_id    TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);

-- Trace facts, folded in on append. first_event is the id of the trace's
-- first event: traces list newest first by it.
CREATE TABLE {p}traces (
    trace_id    TEXT PRIMARY KEY,
    first_event BIGINT NOT NULL,
    session_id  TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    model       TEXT NOT NULL,
    status      TEXT NOT NULL,
    serve       INTEGER NOT NULL,
    version     BIGINT NOT NULL,
    facts       TEXT NOT NULL
);
CREATE INDEX {p}traces_order ON {p}traces (first_event);
CREATE INDEX {p}traces_session ON {p}traces (session_id, first_event);
CREATE INDEX {p}traces_run ON {p}traces (run_id, first_event);
CREATE INDEX {p}traces_task ON {p}traces (task_id, first_event);

-- Session memory: messages in order, numbered by a counter row per session.
CREATE TABLE {p}memory_sessions (
    session_id TEXT PRIMARY KEY,
    last_seq   BIGINT NOT NULL
);
CREATE TABLE {p}messages (
    session_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
