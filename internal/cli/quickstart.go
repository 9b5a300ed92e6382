package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omniserve/omniserve/internal/app"
	"github.com/omniserve/omniserve/internal/config"
)

func quickstartCmd(env Env) *cobra.Command {
	var (
		sf                                 serveFlags
		provider, model, name, instruction string
	)
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Serve a zero-code agent (try --provider echo: no key, no network)",
		Long: "Serve an agent built from flags alone, with the built-in calculate and get_time tools.\n\n" +
			"The model key comes from LLM_API_KEY. --provider echo needs none: it is an offline model\n" +
			"for demos and tests that answers with your own words, or calls a tool when the last line\n" +
			"of the query is {\"tool\": NAME, \"arguments\": {...}}.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			code := config.Default()
			sf.apply(cmd, &code)
			cfg, err := config.Load(code, env.LookupEnv)
			if err != nil {
				return usageErr("Invalid OmniServe config: %w", err)
			}
			if app.ProviderNeedsKey(provider) {
				if key, _ := env.LookupEnv(app.DefaultAPIKeyEnv); strings.TrimSpace(key) == "" {
					return usageErr("provider %s needs an API key: set %s, or run 'omniserve quickstart --provider echo' for an offline demo", provider, app.DefaultAPIKeyEnv)
				}
			}
			tools, err := app.BuiltinTools("calculate", "get_time")
			if err != nil {
				return fmt.Errorf("quickstart tools: %w", err)
			}
			spec := app.AgentSpec{
				Name:              name,
				SystemInstruction: instruction,
				Model:             app.ModelSpec{Provider: provider, Model: model},
				Tools:             tools,
			}
			if strings.EqualFold(provider, "echo") && !cmd.Flags().Changed("model") {
				spec.Model.Model = "echo"
			}
			return serve(cmd.Context(), env, cfg, spec)
		},
	}
	sf.add(cmd, "", "")
	f := cmd.Flags()
	f.StringVarP(&provider, "provider", "p", "gemini", "model provider: "+strings.Join(app.Providers(), ", "))
	f.StringVarP(&model, "model", "m", "gemini-2.0-flash", "model name")
	f.StringVarP(&name, "name", "n", "QuickAgent", "agent name")
	f.StringVarP(&instruction, "instruction", "i", "You are a helpful AI assistant.", "system instruction")
	return cmd
}
