// Package shelltool provides a tool kind that runs a local program.
//
// A shell tool is configured with an argv, never a command line: the program
// in Command[0] is executed directly with the remaining elements as its
// arguments, and no shell is involved unless the operator names one. The
// call's arguments are validated against the tool's JSON Schema and written
// to the program's standard input as one line of compact JSON; whatever the
// program writes to standard output is the result the model reads. Nothing
// the model sends ever becomes part of the command line.
//
// The program runs in a process group of its own, with a minimal
// environment: PATH, HOME, LANG and TZ are inherited from the server (when
// set), and [Config.Env] adds to or overrides them. Every other variable of
// the server process, API keys included, is withheld. When the call ends,
// whether the program exited, timed out, was cancelled or wrote more than
// [Config.MaxOutputBytes], the whole group is killed, so background children
// it started do not outlive the call.
//
// Process groups are a POSIX feature; the package targets Linux and macOS.
package shelltool
