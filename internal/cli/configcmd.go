package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omniserve/omniserve/internal/config"
)

// Prefixes that group the variables of the environment template.
const (
	servePrefix      = "OMNICOREAGENT_SERVE_"
	backgroundPrefix = "OMNICOREAGENT_BACKGROUND_"
	storePrefix      = "OMNICOREAGENT_BACKGROUND_TASK_STORE"
)

func configCmd(env Env) *cobra.Command {
	var show, envExample bool
	cmd := &cobra.Command{
		Use:   "config (--show | --env-example)",
		Short: "Show the effective configuration or print an environment template",
		Long: "Show the configuration the server would use with the current environment\n" +
			"(--show, secrets masked), or print a shell template of every variable (--env-example).",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			switch {
			case show && envExample:
				return usageErr("use either --show or --env-example, not both")
			case show:
				cfg, err := config.Load(config.Default(), env.LookupEnv)
				if err != nil {
					return usageErr("Invalid OmniServe config: %w", err)
				}
				writeConfig(env.Stdout, cfg)
				return nil
			case envExample:
				writeEnvExample(env.Stdout)
				return nil
			}
			return usageErr("nothing to do: run 'omniserve config --show' to see the configuration or 'omniserve config --env-example' for an environment template")
		},
	}
	cmd.Flags().BoolVar(&show, "show", false, "print the effective configuration and where each value came from")
	cmd.Flags().BoolVar(&envExample, "env-example", false, "print a shell template of every OMNICOREAGENT_* variable")
	return cmd
}

// writeConfig prints every setting of cfg with its origin. Values arrive
// from [config.Config.Values] with secrets already masked.
func writeConfig(w io.Writer, cfg config.Config) {
	fmt.Fprintln(w, "Current OmniServe Configuration:")
	fmt.Fprintln(w, strings.Repeat("-", 40))
	for _, v := range cfg.Values() {
		val := v.Value
		if val == "" {
			// An empty value is meaningful (no API prefix, no token), so
			// show it rather than leave a dangling colon.
			val = `""`
		}
		var src string
		switch v.Source {
		case config.SourceEnv:
			src = "environment: " + v.Name
		case config.SourceCode:
			src = "code"
		default:
			src = "default"
		}
		fmt.Fprintf(w, "  %s: %s  (%s)\n", v.Field, val, src)
	}
}

// storeExample is one ready-made task store choice of the template.
type storeExample struct {
	title string
	vars  [][2]string // name, value
}

// storeExamples are the task store blocks of the environment template. They
// use only the OMNICOREAGENT_BACKGROUND_TASK_STORE* variables: OmniServe
// deliberately ignores the generic REDIS_URL and MONGODB_URI.
var storeExamples = []storeExample{
	{"SQL on a SQLite file", [][2]string{
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE", config.StoreSQL},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL", config.DefaultSQLiteURL},
	}},
	{"SQL on PostgreSQL", [][2]string{
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE", config.StoreSQL},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL", "postgresql://user:password@localhost:5432/omnicoreagent"},
	}},
	{"Redis", [][2]string{
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE", config.StoreRedis},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL", "redis://localhost:6379/0"},
	}},
	{"MongoDB", [][2]string{
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE", config.StoreMongoDB},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URI", "mongodb://localhost:27017"},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_DATABASE", config.DefaultMongoDatabase},
	}},
}

// writeEnvExample prints a shell template: the model key to set, then every
// setting commented out at its default, then one block per task store.
func writeEnvExample(w io.Writer) {
	fmt.Fprintln(w, "# OmniServe environment template, from 'omniserve config --env-example'.")
	fmt.Fprintln(w, "# Variables override flags and code; a variable set to an empty value counts as unset.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "# Model credential, read by every provider.")
	fmt.Fprintln(w, "export LLM_API_KEY=your_api_key_here")

	var serve, background, store, other []config.Var
	for _, v := range config.Vars() {
		switch {
		case strings.HasPrefix(v.Name, storePrefix):
			store = append(store, v)
		case strings.HasPrefix(v.Name, servePrefix):
			serve = append(serve, v)
		case strings.HasPrefix(v.Name, backgroundPrefix):
			background = append(background, v)
		default:
			other = append(other, v)
		}
	}
	writeVarSection(w, "Server settings: uncomment a line to change its default.", serve)
	writeVarSection(w, "Background tasks: uncomment a line to change its default.", background)
	writeVarSection(w, "Run workspaces: uncomment a line to change its default.", other)
	writeVarSection(w, "Background task store settings. The default store, in_memory, loses tasks on restart.", store)

	fmt.Fprintln(w)
	fmt.Fprintln(w, "# Choose one backend for a durable task store:")
	for _, ex := range storeExamples {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "# %s:\n", ex.title)
		for _, kv := range ex.vars {
			fmt.Fprintf(w, "# export %s=%s\n", kv[0], shellQuote(kv[1]))
		}
	}
}

func writeVarSection(w io.Writer, heading string, vars []config.Var) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "# %s\n", heading)
	for _, v := range vars {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "# %s\n", v.Description)
		fmt.Fprintf(w, "# export %s=%s\n", v.Name, shellQuote(v.Default))
	}
}

// shellQuote returns s as one POSIX shell word: unchanged when it holds only
// characters the shell treats literally, else in single quotes. The empty
// string stays empty, which after "NAME=" assigns the empty value.
func shellQuote(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,/:@%+=", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
