// Package task is the domain of background work: agent specs, tasks and
// their schedules, runs and their attempts, the run state machine, leases,
// retries, and the [Store] interface every task-store backend implements.
// It imports only the standard library and the cron parser.
//
// # Runs
//
// A run is created queued, by a schedule occurrence or a manual request,
// through its task's [OverlapPolicy]. A worker claims it under a lease
// (a fresh token, the lease generation + 1 and an expiry), starts it, opens
// an attempt, heartbeats while the agent works, and finishes it: completed,
// failed, timeout or cancelled, or requeued for a retry after a delay from
// [RetryPolicy.Decide]. Every write after the claim presents the worker id
// and lease token and is refused with [ErrLeaseLost] when they are not the
// current holding's or the lease has expired, so a worker that lost its
// lease cannot overwrite the run. Runs whose lease expired are recovered by
// any process ([ApplyRecover]).
//
// Cancellation is a flag: [ApplyCancel] records it, ends a queued run at
// once and otherwise leaves the holder to finish the run as cancelled.
// Once it is recorded, completing, retrying, releasing, starting or opening
// an attempt is refused with [ErrCancelled], so cancellation wins every
// race except against a terminal write that committed first.
//
// The allowed status changes are [CanTransition]'s table:
//
//	queued   → claimed | cancelled | skipped
//	claimed  → queued | running | cancelled | failed
//	running  → retrying | completed | failed | timeout | cancelled
//	retrying → queued | cancelled
//
// Terminal statuses (completed, failed, cancelled, timeout, skipped) move
// nowhere.
//
// # Schedules
//
// [PlanDue] decides what is due; it is pure, so every process computes the
// same plan, and occurrence ids ([OccurrenceID]) make each occurrence's
// dispatch idempotent across processes. A schedule keeps a cursor, the
// unjittered slot of its next occurrence, and the time that occurrence
// fires (slot + [Jitter]). Jitter is derived from the task and occurrence
// ids, so it is stable across restarts, lies in [0, jitter_seconds], and
// an occurrence whose jittered time passes end_at ends the schedule.
//
// Cron expressions have five fields — minute, hour, day-of-month, month,
// day-of-week — and are evaluated in the schedule's time zone by
// github.com/robfig/cron/v3's standard parser: '*', lists, ranges and
// steps, month and weekday names (JAN, MON), '?' for '*', and the
// descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight and
// @hourly (not @every; use an interval schedule). Day-of-week 7 and
// wrap-around ranges such as 22-2 are accepted as the original accepts
// them. One rule differs from the original on purpose: as in standard
// cron, when both day-of-month and day-of-week are restricted (neither is
// '*'), a day matches if EITHER matches; the original requires both. So
// "0 9 13 * 5" runs on every 13th and every Friday, not only on Friday the
// 13th.
//
// # Stores
//
// The rules a store enforces live here as Prepare and Apply functions that
// a backend calls inside its atomic section, so no backend can get
// transitions, fencing, cancellation precedence, overlap or occurrence
// dedupe wrong; package tasktest checks every backend against the same
// contract.
package task
