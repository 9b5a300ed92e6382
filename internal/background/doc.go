// Package background executes background work over a [task.Store]: the
// scheduler that dispatches due schedule occurrences, the worker that
// claims queued runs and executes them through a [RunHandler] under
// renewed leases, the recovery of runs whose holder died, cancellation,
// manual runs with an optional wait, and the lifecycle events of every
// run. It knows the store and the handler, never the agent: package app
// adapts the agent to [RunHandler], the telemetry log to [EventSink] and
// the workspace to [RunFiles].
//
// # Goroutines
//
// [Manager.Start] starts three loops, which end at [Manager.Stop]:
//
//   - The scheduler lists due schedules every SchedulerInterval, or when
//     [Manager.WakeScheduler] is called, and dispatches each planned
//     occurrence with [task.Store.RunDispatchScheduled]. Processes may race
//     on an occurrence; the store records it once, and only the process
//     whose dispatch created the run emits its events.
//   - The worker claims queued runs while fewer than Concurrency execute
//     here, each on a goroutine of its own. When nothing is claimable it
//     sleeps until kicked by this process (a run enqueued, cancelled
//     overlap aside; a run finished or requeued) or until PollInterval,
//     which finds runs enqueued by other processes, or sooner when a run
//     this process requeued becomes claimable.
//   - Recovery takes over runs whose lease expired, every
//     RecoveryInterval and at start.
//
// While its handler runs, an execution has a heartbeat goroutine that
// renews the lease every LeaseDuration/4, emits background_run_heartbeat,
// and cancels the handler when the run's cancellation was requested or
// the lease was lost. [Manager.RunNow] with Wait and no running worker
// executes the run inline on the same kind of goroutine, outside the
// Concurrency bound.
//
// # Runs
//
// An execution records the claim, starts the run, opens an attempt and
// calls the handler, then finishes the run completed, failed or timeout,
// or requeues it with [task.Store.RunRetry] after the delay of the task's
// [task.RetryPolicy.Decide]. Every write presents the lease; a write
// refused with [task.ErrLeaseLost] makes the execution stop, leaving the
// run to recovery. A write refused with [task.ErrCancelled] makes it
// finish the run cancelled. The checkpoints where a cancellation from
// another process is seen are the heartbeats, the start, the attempt's
// opening, the handler's call, the write after a failed attempt and the
// completion.
//
// # Events and their sequence numbers
//
// Every event of a run carries a sequence number, contiguous from 1
// across processes and restarts, without a counter service: the numbers
// live in the run's metadata under [MetaEventSequence], with the lease
// generation they were written under in [MetaEventGeneration]. A creator
// writes them with the run (1 for a manual run's queued or skipped event,
// 2 for a scheduled run's background_task_scheduled and queued). A lease
// holder reserves numbers before it emits: its first write after the
// claim, a heartbeat, reserves the claimed event and the next; every
// heartbeat reserves its own event; the write after a failed attempt
// reserves retrying and queued. Terminal events are not reserved: no one
// emits after them. Writers that hold no lease — a canceller ending a
// queued run, recovery — cannot write metadata, so their numbers follow
// from the mark and the lease generation: only claims and recoveries take
// generations, a holder writes its mark before it emits anything, and a
// recovery that requeues a run emits exactly one event, so the
// generations taken since the mark tell how many recovered events came
// after it.
//
// Numbers can be lost, leaving a gap, in two cases only: a process dies
// between a reservation and its event, and a holder's write after a
// reservation is refused because its lease expired, which takes a whole
// lease without a successful heartbeat. Runs created around the manager
// (straight through the store) have no mark; their first event numbered
// here is then 1.
//
// Event writes are synchronous, each bounded by EventTimeout, and never
// fail a run: the workspace gets events.jsonl lines and run.json
// rewritten after every event but heartbeats (before a terminal event's
// line), as the task's workspace policy allows; then the sink gets the
// event.
//
// # Shutdown
//
// [Manager.Stop] stops the loops, then waits for executing runs until its
// context is done, then cancels their handlers: a run whose handler was
// cancelled fails "worker shutdown", requeued when its retry policy
// allows, and a run claimed but not started goes back to the queue.
package background
