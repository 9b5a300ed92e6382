// Package cli is the omniserve command line: run, quickstart, config,
// generate-dockerfile, healthcheck and version.
// Commands write to injected writers, read the environment through an
// injected lookup and return an exit code, so tests drive them in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omniserve/omniserve/internal/version"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the server could not start or stopped with an error
	ExitUsage   = 2 // bad flags, configuration or agent file
)

// Env is what a command may touch outside itself.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads environment variables; os.LookupEnv in production.
	LookupEnv func(string) (string, bool)
	// Serve, when set, replaces listening and serving (tests use it to
	// stop after startup). It receives the started server's address.
	ServeFunc func(ctx context.Context, s Server) error
}

// Server is the part of the built server a ServeFunc may use.
type Server interface {
	ListenAndServe(ctx context.Context) error
	Addr() string
}

// exitError carries an exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.LookupEnv == nil {
		env.LookupEnv = func(string) (string, bool) { return "", false }
	}
	root := &cobra.Command{
		Use:           "omniserve",
		Short:         "Serve an LLM agent as a REST + Server-Sent-Events API",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("omniserve, version {{.Version}}\n")
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: err}
	})
	root.AddCommand(runCmd(env), quickstartCmd(env), versionCmd(env), configCmd(env), dockerfileCmd(env), healthcheckCmd(env))

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(env.Stderr, "Error:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code == ExitUsage && strings.Contains(err.Error(), "flag") {
			fmt.Fprintln(env.Stderr, "Run 'omniserve --help' for usage.")
		}
		return ee.code
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return ExitUsage
	}
	return ExitFailure
}

func versionCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(env.Stdout, "omniserve, version %s\n", version.String())
			return nil
		},
	}
}

// newLogger logs JSON unless w is a terminal, at level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
