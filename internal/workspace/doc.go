// Package workspace is the run workspace: a tree of files a background run
// and its agent share, kept by a [Store] backend (package localfs for a
// local directory; object stores such as S3 and R2 later). It imports only
// the standard library.
//
// # Paths
//
// Every path a [Store] accepts is slash-separated and relative to the
// store's root (the workspace's "files" area). [CleanPath] is the single
// gate every backend passes paths through: it refuses absolute paths, ".."
// segments, backslashes, NUL and other control characters, invalid UTF-8
// and overly long paths with [ErrInvalidPath], and collapses harmless
// spellings ("a//b", "./a", "a/") to one canonical form, so no path a
// caller, an HTTP request or a model supplies can leave the workspace.
//
// Directories are implicit, as in an object store: writing "a/b/c.txt"
// makes "a" and "a/b" appear, and deleting the last file beneath a
// directory makes it disappear. A path is either a file or a directory,
// never both.
//
// # Run workspaces
//
// A background run owns the directory [RunNamespace] names,
// "background/{agent_id}/{task_id}/{run_id}" by default. The system writes
// [RunJSON] (the run record) and appends lifecycle events to [EventsJSONL];
// the agent, told the conventions by the preamble [RunContext] builds,
// writes its result to [OutputMD] and its working files under
// [ScratchpadDir], [LogsDir], [ArtifactsDir] and [SubagentsDir].
package workspace
