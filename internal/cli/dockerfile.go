package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"unicode"

	"github.com/spf13/cobra"
)

// imageName is the tag the printed build and run examples use.
const imageName = "omniserve-agent"

func dockerfileCmd(env Env) *cobra.Command {
	var agentPath, outputDir string
	cmd := &cobra.Command{
		Use:   "generate-dockerfile --file AGENT",
		Short: "Write a Dockerfile that serves an agent file",
		Long: "Write a multi-stage Dockerfile that builds omniserve and serves the agent file in a\n" +
			"minimal image as a non-root user. The current directory is the Docker build context:\n" +
			"the agent file must be inside it. The agent file is not read, only checked to exist.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if agentPath == "" {
				return usageErr("Please specify agent file with --file")
			}
			contextDir, err := os.Getwd()
			if err != nil {
				return fmt.Errorf("current directory: %w", err)
			}
			return generateDockerfile(env.Stdout, env.Stderr, contextDir, agentPath, outputDir)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&agentPath, "file", "f", "", "agent file to serve, inside the current directory")
	f.StringVarP(&outputDir, "output-dir", "o", ".", "directory to write the Dockerfile to; created if missing")
	return cmd
}

// generateDockerfile checks that agentPath names a file inside contextDir,
// writes outputDir/Dockerfile and prints how to build and run the image.
// Relative paths are taken from contextDir. Nothing is written when a check
// fails.
func generateDockerfile(stdout, stderr io.Writer, contextDir, agentPath, outputDir string) error {
	root, err := filepath.EvalSymlinks(contextDir)
	if err != nil {
		return fmt.Errorf("resolve build context %s: %w", contextDir, err)
	}
	// Stat, not Open: the agent file is never read here, so an unreadable
	// or invalid file still gets a Dockerfile.
	st, err := os.Stat(fromDir(contextDir, agentPath))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageErr("Agent file not found: %s", agentPath)
	case err != nil:
		return usageErr("agent file %s: %w", agentPath, err)
	case st.IsDir():
		return usageErr("agent file %s is a directory", agentPath)
	}
	rel, ok, err := within(root, fromDir(contextDir, agentPath))
	if err != nil {
		return usageErr("agent file %s: %w", agentPath, err)
	}
	if !ok {
		return usageErr("Agent file must be inside the current Docker build context: %s is outside %s", agentPath, root)
	}
	imagePath := "/app/" + filepath.ToSlash(rel)
	if strings.ContainsFunc(imagePath, unicode.IsControl) {
		return usageErr("agent file path %q contains a control character, which a Dockerfile cannot hold", agentPath)
	}
	if strings.ContainsFunc(outputDir, unicode.IsControl) {
		return usageErr("output directory %q contains a control character", outputDir)
	}

	outAbs := fromDir(contextDir, outputDir)
	if err := os.MkdirAll(outAbs, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	target := filepath.Join(outAbs, "Dockerfile")
	buildFlag := ""
	switch outRel, inside, err := within(root, outAbs); {
	case err == nil && inside && outRel == ".":
	case err == nil && inside:
		buildFlag = "-f " + shellQuote(filepath.ToSlash(filepath.Join(outRel, "Dockerfile"))) + " "
	default:
		// Docker accepts a Dockerfile outside the context by absolute path.
		buildFlag = "-f " + shellQuote(filepath.Clean(target)) + " "
	}
	dockerfile, err := renderDockerfile(imagePath, buildFlag)
	if err != nil {
		return err
	}
	if err := os.WriteFile(target, dockerfile, 0o644); err != nil { //nolint:gosec // A Dockerfile is meant to be shared.
		return fmt.Errorf("write Dockerfile: %w", err)
	}

	if st.Mode().Perm()&0o400 == 0 {
		fmt.Fprintf(stderr, "Warning: %s is not readable by its owner (mode %s); the server in the image will not be able to read it.\n", agentPath, st.Mode().Perm())
	}
	printDockerfileHelp(stdout, filepath.Join(outputDir, "Dockerfile"), imagePath, buildFlag)
	return nil
}

// fromDir resolves p against dir unless it is absolute. It joins without
// cleaning, so that ".." after a symlink is left for [filepath.EvalSymlinks]
// to resolve the way the kernel does.
func fromDir(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return dir + string(filepath.Separator) + p
}

// within resolves the symlinks of p, which must exist, and reports its path
// relative to root, itself already resolved, and whether it lies inside
// root.
func within(root, p string) (string, bool, error) {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false, fmt.Errorf("resolve path: %w", err)
	}
	rel, err := filepath.Rel(root, resolved)
	if err != nil {
		return "", false, nil //nolint:nilerr // No relative path (another volume) means outside.
	}
	if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false, nil
	}
	return rel, true, nil
}

// dockerfileTemplate is the generated Dockerfile. The final image holds no
// shell, so every instruction that runs there uses the exec (JSON) form, and
// directories the runtime user writes to are made in the build stage.
var dockerfileTemplate = template.Must(template.New("Dockerfile").Parse(`# Generated by 'omniserve generate-dockerfile'. Build it from the directory it
# was generated in, the Docker build context, which holds the agent file:
#   docker build {{.BuildFlag}}-t ` + imageName + ` .
# Keys and passwords are passed at run time (docker run -e), never built in.

# Stage 1: build a static omniserve binary. Pin a release with
#   --build-arg OMNISERVE_VERSION=vX.Y.Z
FROM golang:1.26-bookworm AS build
ARG OMNISERVE_VERSION=latest
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" \
        github.com/omniserve/omniserve/cmd/omniserve@${OMNISERVE_VERSION}
# The runtime image has no shell, so its writable directories are made here,
# owned by the runtime user, and copied over with their ownership.
RUN mkdir -p /rootfs/app /rootfs/tmp/workspace \
    && chmod 1777 /rootfs/tmp \
    && chown 10001:10001 /rootfs/app /rootfs/tmp/workspace

# Stage 2: a minimal image with no shell or package manager, run as non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /rootfs/ /
COPY --from=build /out/omniserve /usr/local/bin/omniserve
WORKDIR /app
COPY --chown=10001:10001 . /app
ENV AGENT_PATH={{.EnvPath}} \
    OMNICOREAGENT_WORKSPACE_BACKEND=local \
    OMNICOREAGENT_WORKSPACE_DIR=/tmp/workspace
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/omniserve", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/omniserve"]
CMD ["run", "--agent", {{.JSONPath}}]
`))

// renderDockerfile fills the template for the agent at imagePath; buildFlag
// is "" or the "-f PATH " the build command needs.
func renderDockerfile(imagePath, buildFlag string) ([]byte, error) {
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(imagePath); err != nil {
		return nil, fmt.Errorf("encode agent path: %w", err)
	}
	data := struct{ EnvPath, JSONPath, BuildFlag string }{
		EnvPath:   dockerQuote(imagePath),
		JSONPath:  strings.TrimSuffix(js.String(), "\n"),
		BuildFlag: buildFlag,
	}
	var buf bytes.Buffer
	if err := dockerfileTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render Dockerfile: %w", err)
	}
	return buf.Bytes(), nil
}

// dockerQuote double-quotes s for a Dockerfile ENV value, escaping the
// characters Docker would otherwise interpret: backslash, the quote itself
// and $, which starts a variable reference.
func dockerQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(s) + `"`
}

// printDockerfileHelp tells the user where the Dockerfile went and how to
// build and run the image. buildFlag is "" or "-f PATH ".
func printDockerfileHelp(w io.Writer, written, imagePath, buildFlag string) {
	fmt.Fprintf(w, "Dockerfile written to %s\n", written)
	fmt.Fprintf(w, "Agent path inside image: %s\n", imagePath)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Build the image from this directory, the Docker build context:")
	fmt.Fprintf(w, "  docker build %s-t %s .\n", buildFlag, imageName)
	fmt.Fprintln(w, "Everything in this directory is copied into the image: list secrets such as .env in a .dockerignore file.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run it with a local workspace kept in a named volume:")
	fmt.Fprintf(w, "  docker run --rm -p 8000:8000 -e LLM_API_KEY -v omniserve-workspace:/tmp/workspace %s\n", imageName)
	fmt.Fprintln(w, "Warning: without a volume at /tmp/workspace the local workspace is ephemeral; its files are lost with the container.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Or with an S3 workspace (replace the placeholders):")
	fmt.Fprintln(w, "  docker run --rm -p 8000:8000 -e LLM_API_KEY \\")
	fmt.Fprintln(w, "    -e OMNICOREAGENT_WORKSPACE_BACKEND=s3 \\")
	fmt.Fprintln(w, "    -e AWS_S3_BUCKET=your-bucket -e AWS_REGION=your-region \\")
	fmt.Fprintln(w, "    -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \\")
	fmt.Fprintf(w, "    %s\n", imageName)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A bare -e NAME passes that variable from your shell, so no key is written into the image or the command.")
}
