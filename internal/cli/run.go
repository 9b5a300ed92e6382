package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omniserve/omniserve"
	"github.com/omniserve/omniserve/internal/agentfile"
	"github.com/omniserve/omniserve/internal/app"
	"github.com/omniserve/omniserve/internal/config"
	"github.com/omniserve/omniserve/internal/goagent"
	"github.com/omniserve/omniserve/internal/version"
)

// serveFlags are the flags run and quickstart share.
type serveFlags struct {
	host string
	port int
}

func (f *serveFlags) add(cmd *cobra.Command, hostShort, portShort string) {
	// -h means --host, as in the original; help stays available as --help.
	cmd.Flags().Bool("help", false, "help for "+cmd.Name())
	cmd.Flags().StringVarP(&f.host, "host", hostShort, "0.0.0.0", "address to listen on (OMNICOREAGENT_SERVE_HOST wins)")
	cmd.Flags().IntVarP(&f.port, "port", portShort, 8000, "port to listen on (OMNICOREAGENT_SERVE_PORT wins)")
}

func (f *serveFlags) apply(cmd *cobra.Command, c *config.Config) {
	if cmd.Flags().Changed("host") {
		c.Host = f.host
	}
	if cmd.Flags().Changed("port") {
		c.Port = f.port
	}
}

func runCmd(env Env) *cobra.Command {
	var (
		sf          serveFlags
		agentPath   string
		workers     int
		noDocs      bool
		corsOrigins string
		authToken   string
		rateLimit   int
	)
	cmd := &cobra.Command{
		Use:   "run --agent FILE",
		Short: "Serve the agent defined in an agent file",
		Long: "Serve the agent defined in a YAML or JSON agent file.\n\n" +
			"Configuration comes from defaults, then these flags, then OMNICOREAGENT_SERVE_* environment\n" +
			"variables, which always win. It is validated before the agent file is read.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			code := config.Default()
			sf.apply(cmd, &code)
			fl := cmd.Flags()
			if fl.Changed("workers") {
				code.Workers = workers
			}
			if noDocs {
				code.EnableDocs, code.EnableRedoc = false, false
			}
			if fl.Changed("cors-origins") {
				code.CORSOrigins = splitList(corsOrigins)
			}
			if fl.Changed("auth-token") {
				code.AuthEnabled, code.AuthToken = true, authToken
			}
			if fl.Changed("rate-limit") {
				code.RateLimitEnabled, code.RateLimitRequests, code.RateLimitWindow = true, rateLimit, 60*time.Second
			}
			cfg, err := config.Load(code, env.LookupEnv)
			if err != nil {
				return usageErr("Invalid OmniServe config: %w", err)
			}
			if agentPath == "" {
				return usageErr("Please specify an agent file with --agent or use 'omniserve quickstart'")
			}
			if strings.EqualFold(filepath.Ext(agentPath), ".go") {
				return serveGoFile(cmd.Context(), env, cfg, agentPath)
			}
			file, err := agentfile.Load(agentPath)
			if err != nil {
				return usageErr("%w", err)
			}
			spec, err := app.SpecFromFile(file, env.LookupEnv)
			if err != nil {
				return usageErr("agent file %s: %w", agentPath, err)
			}
			return serve(cmd.Context(), env, cfg, spec)
		},
	}
	sf.add(cmd, "h", "p")
	f := cmd.Flags()
	f.StringVarP(&agentPath, "agent", "a", "", "agent file (.yaml, .yml or .json)")
	f.IntVarP(&workers, "workers", "w", 1, "worker processes; must be 1 (run more processes behind a load balancer to scale out)")
	f.BoolVar(&noDocs, "no-docs", false, "disable /docs and /redoc")
	f.StringVar(&corsOrigins, "cors-origins", "*", "comma-separated allowed CORS origins")
	f.StringVar(&authToken, "auth-token", "", "require 'Authorization: Bearer TOKEN' on every non-public route")
	f.IntVar(&rateLimit, "rate-limit", 0, "allow N requests per client per 60 s")
	return cmd
}

// serve builds the agent and server and serves until ctx ends.
func serve(ctx context.Context, env Env, cfg config.Config, spec app.AgentSpec) error {
	logger := newLogger(env.Stderr, cfg.SlogLevel())
	stores, err := app.OpenStores(ctx, cfg, logger)
	if err != nil {
		return &exitError{code: ExitFailure, err: err}
	}
	defer func() {
		if err := stores.Close(); err != nil {
			logger.Warn("close stores", slog.String("error", err.Error()))
		}
	}()
	ag, err := app.NewAgentWithStores(ctx, spec, stores.Stores, env.LookupEnv, logger)
	if err != nil {
		return usageErr("%w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := ag.Close(stopCtx); err != nil {
			logger.Warn("stop agent", slog.String("error", err.Error()))
		}
	}()
	srv, err := app.NewServer(ag, cfg, logger)
	if err != nil {
		return usageErr("%w", err)
	}
	tools := 0
	if spec.Tools != nil {
		tools = spec.Tools.Len()
	}
	model := spec.Model.Provider
	if spec.Model.Model != "" {
		model += "/" + spec.Model.Model
	}
	printBanner(env.Stdout, cfg, spec.Name, model, tools)
	if env.ServeFunc != nil {
		err = env.ServeFunc(ctx, srv)
	} else {
		err = srv.ListenAndServe(ctx)
	}
	if err != nil {
		logger.Error("server stopped", slog.String("error", err.Error()))
		return &exitError{code: ExitFailure, err: err}
	}
	return nil
}

// serveGoFile loads a Go agent file in the embedded interpreter and serves
// the agent it defines with cfg.
func serveGoFile(ctx context.Context, env Env, cfg config.Config, path string) error {
	logger := newLogger(env.Stderr, cfg.SlogLevel())
	ag, err := goagent.Load(ctx, path, goagent.Options{Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return usageErr("%w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := ag.Close(stopCtx); err != nil {
			logger.Warn("stop agent", slog.String("error", err.Error()))
		}
	}()
	fc := omniserve.Config{
		Host: cfg.Host, Port: cfg.Port, APIPrefix: cfg.APIPrefix, RequestTimeout: cfg.RequestTimeout,
		MaxBodyBytes: cfg.MaxBodyBytes, ShutdownGrace: cfg.ShutdownGrace, CORSOrigins: cfg.CORSOrigins,
		DisableDocs: !cfg.EnableDocs, LookupEnv: env.LookupEnv, Logger: logger,
	}
	if cfg.AuthEnabled {
		fc.AuthToken = cfg.AuthToken
	}
	if cfg.RateLimitEnabled {
		fc.RateLimit = cfg.RateLimitRequests
	}
	srv := omniserve.New(ag, fc)
	if err := srv.Err(); err != nil {
		return usageErr("%w", err)
	}
	printBanner(env.Stdout, cfg, ag.Name(), "Go agent file "+filepath.Base(path), ag.ToolCount())
	if env.ServeFunc != nil {
		err = env.ServeFunc(ctx, srv)
	} else {
		err = srv.Start(ctx)
	}
	if err != nil {
		logger.Error("server stopped", slog.String("error", err.Error()))
		return &exitError{code: ExitFailure, err: err}
	}
	return nil
}

func printBanner(w io.Writer, cfg config.Config, name, model string, tools int) {
	host := cfg.Host
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port))
	fmt.Fprintf(w, "OmniServe %s\n", version.String())
	fmt.Fprintf(w, "  Agent:       %s (%s, %d tools)\n", name, model, tools)
	fmt.Fprintf(w, "  Listening:   %s\n", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	fmt.Fprintf(w, "  URL:         %s%s\n", base, cfg.APIPrefix)
	switch {
	case cfg.EnableDocs:
		fmt.Fprintf(w, "  Docs:        %s/docs\n", base)
	case cfg.EnableRedoc:
		fmt.Fprintf(w, "  Docs:        %s/redoc\n", base)
	default:
		fmt.Fprintf(w, "  OpenAPI:     %s/openapi.json\n", base)
	}
	fmt.Fprintf(w, "  Prometheus:  %s/prometheus\n", base)
	fmt.Fprintf(w, "  Auth:        %s\n", onOff(cfg.AuthEnabled))
	if cfg.CORSEnabled {
		fmt.Fprintf(w, "  CORS:        %s\n", strings.Join(cfg.CORSOrigins, ", "))
	}
	if cfg.RateLimitEnabled {
		fmt.Fprintf(w, "  Rate limit:  %d requests per %s per client\n", cfg.RateLimitRequests, cfg.RateLimitWindow)
	}
	fmt.Fprintf(w, "  Try:         curl -s -X POST %s%s/run/sync -H 'Content-Type: application/json' -d '{\"query\": \"Hello\"}'\n", base, cfg.APIPrefix)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
