package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/omniserve/omniserve/internal/config"
)

// maxHealthBody caps how much of a /health answer is read.
const maxHealthBody = 64 << 10

func healthcheckCmd(env Env) *cobra.Command {
	var (
		timeout time.Duration
		rawURL  string
	)
	// Docker reserves exit status 2 for health checks, so every failure
	// here, bad flags included, exits 1 rather than ExitUsage.
	unhealthy := func(err error) error { return &exitError{code: ExitFailure, err: err} }
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local server reports healthy (for Docker HEALTHCHECK)",
		Long: "Ask the server on this machine for /health and exit 0 only when it answers 200 with\n" +
			"status \"healthy\", else print the reason and exit 1. The port and API prefix come from\n" +
			"OMNICOREAGENT_SERVE_PORT and OMNICOREAGENT_SERVE_API_PREFIX, as for 'omniserve run'.\n" +
			"It needs no shell or curl, so it suits minimal container images.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unhealthy(fmt.Errorf("unexpected argument %q", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return unhealthy(errors.New("--timeout must be greater than 0"))
			}
			target := rawURL
			if target == "" {
				cfg, err := config.Load(config.Default(), env.LookupEnv)
				if err != nil {
					return unhealthy(fmt.Errorf("Invalid OmniServe config: %w", err)) //nolint:staticcheck // The message is the original server's, capital included.
				}
				target = healthURL(cfg)
			}
			if err := checkHealth(cmd.Context(), target, timeout); err != nil {
				return unhealthy(err)
			}
			fmt.Fprintf(env.Stdout, "healthy: %s\n", target)
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return unhealthy(err) })
	f := cmd.Flags()
	f.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	f.StringVar(&rawURL, "url", "", "health URL to check instead of the one the configuration implies")
	return cmd
}

// healthURL is the /health URL of the server cfg describes, as seen from
// the same machine: a wildcard or empty bind address is reached through
// 127.0.0.1, any other through itself.
func healthURL(cfg config.Config) string {
	host := cfg.Host
	if a, err := netip.ParseAddr(host); host == "" || host == "localhost" || (err == nil && a.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port)) + cfg.APIPrefix + "/health"
}

// checkHealth GETs target and reports why the answer is not a 200 with
// status "healthy", or nil.
func checkHealth(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("health check URL %q: %w", target, err)
	}
	// A transport of its own: no proxy from the environment, no connection
	// left behind once the check is done.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("health check %s: no answer within %s", target, timeout)
		}
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check %s: status %s", target, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return fmt.Errorf("health check %s: read body: %w", target, err)
	}
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("health check %s: body is not JSON: %w", target, err)
	}
	if h.Status != "healthy" {
		return fmt.Errorf("health check %s: status %q, want \"healthy\"", target, h.Status)
	}
	return nil
}
