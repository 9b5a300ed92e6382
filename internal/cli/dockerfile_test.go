package cli

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// buildContext makes a temporary directory holding files (name → content),
// resolves its symlinks and changes into it. Tests that use it cannot run
// in parallel.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

// dockerfileFacts pulls out of a generated Dockerfile what the image runs.
type dockerfileFacts struct {
	froms       []string
	user        string
	agentEnv    string
	entrypoint  []string
	cmd         []string
	healthcheck string
}

func parseDockerfile(t *testing.T, df string) dockerfileFacts {
	t.Helper()
	var f dockerfileFacts
	execForm := func(s string) []string {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Errorf("%q is not in exec (JSON) form: %v", s, err)
		}
		return out
	}
	for line := range strings.Lines(df) {
		line = strings.TrimSpace(line)
		instr, rest, _ := strings.Cut(line, " ")
		switch instr {
		case "FROM":
			f.froms = append(f.froms, rest)
		case "USER":
			f.user = rest
		case "ENV":
			if v, ok := strings.CutPrefix(rest, "AGENT_PATH="); ok {
				f.agentEnv = strings.TrimSuffix(v, ` \`)
			}
		case "ENTRYPOINT":
			f.entrypoint = execForm(rest)
		case "CMD":
			f.cmd = execForm(rest)
		case "HEALTHCHECK":
			f.healthcheck = rest
		}
	}
	return f
}

// checkDockerfile asserts the properties every generated Dockerfile has.
func checkDockerfile(t *testing.T, df, imagePath string) {
	t.Helper()
	f := parseDockerfile(t, df)
	if diff := cmp.Diff([]string{"golang:1.26-bookworm AS build", "gcr.io/distroless/static-debian12:nonroot"}, f.froms); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if f.user != "10001:10001" {
		t.Errorf("USER %q, want 10001:10001", f.user)
	}
	if want := dockerQuote(imagePath); f.agentEnv != want {
		t.Errorf("AGENT_PATH=%s, want %s", f.agentEnv, want)
	}
	if diff := cmp.Diff([]string{"/usr/local/bin/omniserve"}, f.entrypoint); diff != "" {
		t.Errorf("ENTRYPOINT (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"run", "--agent", imagePath}, f.cmd); diff != "" {
		t.Errorf("CMD (-want +got):\n%s", diff)
	}
	if want := `--interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/omniserve", "healthcheck"]`; f.healthcheck != want {
		t.Errorf("HEALTHCHECK %s, want %s", f.healthcheck, want)
	}
	for _, want := range []string{
		`RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" \`,
		"github.com/omniserve/omniserve/cmd/omniserve@${OMNISERVE_VERSION}",
		"ARG OMNISERVE_VERSION=latest",
		"COPY --chown=10001:10001 . /app\n",
		"WORKDIR /app\n",
		"OMNICOREAGENT_WORKSPACE_BACKEND=local",
		"OMNICOREAGENT_WORKSPACE_DIR=/tmp/workspace",
		"EXPOSE 8000\n",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(df, "LLM_API_KEY") {
		t.Error("Dockerfile mentions LLM_API_KEY")
	}
}

// checkPrinted asserts the properties of every printed build-and-run text.
func checkPrinted(t *testing.T, out, imagePath string) {
	t.Helper()
	for _, want := range []string{
		"Agent path inside image: " + imagePath + "\n",
		"-v omniserve-workspace:/tmp/workspace",
		"ephemeral",
		"OMNICOREAGENT_WORKSPACE_BACKEND=s3",
		"AWS_S3_BUCKET=your-bucket",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n, m := strings.Count(out, "LLM_API_KEY"), strings.Count(out, "-e LLM_API_KEY "); n != m || n == 0 {
		t.Errorf("LLM_API_KEY appears %d times, %d of them as -e LLM_API_KEY", n, m)
	}
}

func readDockerfile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenerateDockerfileGolden(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		args      []string
		written   string // relative to the build context
		imagePath string
	}{
		{
			name:      "root",
			files:     map[string]string{"agent.yaml": "name: a\n"},
			args:      []string{"--file", "agent.yaml"},
			written:   "Dockerfile",
			imagePath: "/app/agent.yaml",
		},
		{
			// A missing output directory is created, and a path with spaces
			// and shell or Docker metacharacters survives quoting.
			name:      "nested",
			files:     map[string]string{"agents/my $agent's.yaml": "name: a\n"},
			args:      []string{"-f", "agents/my $agent's.yaml", "-o", "deploy/docker files"},
			written:   "deploy/docker files/Dockerfile",
			imagePath: "/app/agents/my $agent's.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buildContext(t, tt.files)
			r := runCLI(t, nil, neverServe(t), append([]string{"generate-dockerfile"}, tt.args...)...)
			if r.code != ExitOK {
				t.Fatalf("code %d, stderr %q", r.code, r.stderr)
			}
			df := readDockerfile(t, tt.written)
			golden(t, "dockerfile_"+tt.name+".Dockerfile", df)
			golden(t, "dockerfile_"+tt.name+".txt", r.stdout)
			checkDockerfile(t, df, tt.imagePath)
			checkPrinted(t, r.stdout, tt.imagePath)
		})
	}
}

func TestGenerateDockerfileAccepts(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string) []string // returns the arguments
		imagePath string
		stdout    string // printed text must contain it
	}{
		{
			name: "absolute path inside",
			setup: func(_ *testing.T, dir string) []string {
				return []string{"-f", filepath.Join(dir, "agent.yaml")}
			},
			imagePath: "/app/agent.yaml",
			stdout:    "docker build -t omniserve-agent .",
		},
		{
			name:      "dot-dot that stays inside",
			setup:     func(*testing.T, string) []string { return []string{"-f", "agents/../agent.yaml"} },
			imagePath: "/app/agent.yaml",
		},
		{
			name: "symlink to a file inside",
			setup: func(t *testing.T, dir string) []string {
				symlink(t, filepath.Join(dir, "agents", "v2.yaml"), filepath.Join(dir, "current.yaml"))
				return []string{"-f", "current.yaml"}
			},
			imagePath: "/app/agents/v2.yaml",
		},
		{
			name: "output directory exists",
			setup: func(t *testing.T, dir string) []string {
				if err := os.Mkdir(filepath.Join(dir, "build"), 0o755); err != nil {
					t.Fatal(err)
				}
				return []string{"-f", "agent.yaml", "--output-dir", "build"}
			},
			imagePath: "/app/agent.yaml",
			stdout:    "docker build -f build/Dockerfile -t omniserve-agent .",
		},
		{
			// The agent file is only checked to exist: content that is not
			// a valid agent file makes no difference.
			name: "content is not read",
			setup: func(t *testing.T, dir string) []string {
				if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte("{{{ not yaml"), 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"-f", "agent.yaml"}
			},
			imagePath: "/app/agent.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := buildContext(t, map[string]string{"agent.yaml": "name: a\n", "agents/v2.yaml": "name: b\n"})
			args := tt.setup(t, dir)
			r := runCLI(t, nil, neverServe(t), append([]string{"generate-dockerfile"}, args...)...)
			if r.code != ExitOK {
				t.Fatalf("code %d, stderr %q", r.code, r.stderr)
			}
			out := "."
			for i, a := range args {
				if a == "--output-dir" || a == "-o" {
					out = args[i+1]
				}
			}
			checkDockerfile(t, readDockerfile(t, filepath.Join(out, "Dockerfile")), tt.imagePath)
			checkPrinted(t, r.stdout, tt.imagePath)
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r.stdout)
			}
		})
	}
}

// TestGenerateDockerfileUnreadableAgent shows that the agent file is never
// opened: a file nobody may read still gets a Dockerfile. Root reads any
// file, so the check means nothing there.
func TestGenerateDockerfileUnreadableAgent(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read a mode 0000 file")
	}
	buildContext(t, map[string]string{"agent.yaml": "name: a\n"})
	if err := os.Chmod("agent.yaml", 0); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, neverServe(t), "generate-dockerfile", "-f", "agent.yaml")
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	checkDockerfile(t, readDockerfile(t, "Dockerfile"), "/app/agent.yaml")
	if !strings.Contains(r.stderr, "not readable by its owner") {
		t.Errorf("stderr = %q, want a warning about the file mode", r.stderr)
	}
}

func TestGenerateDockerfileWarnsAboutMode(t *testing.T) {
	// Root or not, the mode bits are what the image's user will meet.
	buildContext(t, map[string]string{"agent.yaml": "name: a\n"})
	if err := os.Chmod("agent.yaml", 0o044); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, neverServe(t), "generate-dockerfile", "-f", "agent.yaml")
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "not readable by its owner") {
		t.Errorf("stderr = %q, want a warning about the file mode", r.stderr)
	}
}

func TestGenerateDockerfileOutputOutsideContext(t *testing.T) {
	outside, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(outside, "new")
	buildContext(t, map[string]string{"agent.yaml": "name: a\n"})
	r := runCLI(t, nil, neverServe(t), "generate-dockerfile", "-f", "agent.yaml", "-o", outDir)
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	checkDockerfile(t, readDockerfile(t, filepath.Join(outDir, "Dockerfile")), "/app/agent.yaml")
	if want := "docker build -f " + shellQuote(filepath.Join(outDir, "Dockerfile")) + " -t omniserve-agent ."; !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}
}

func TestGenerateDockerfileContextThroughSymlink(t *testing.T) {
	realDir := buildContext(t, map[string]string{"agent.yaml": "name: a\n"})
	link := filepath.Join(t.TempDir(), "ctx")
	symlink(t, realDir, link)
	t.Chdir(link)
	r := runCLI(t, nil, neverServe(t), "generate-dockerfile", "-f", "agent.yaml")
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	checkDockerfile(t, readDockerfile(t, filepath.Join(realDir, "Dockerfile")), "/app/agent.yaml")
}

func TestGenerateDockerfileRefuses(t *testing.T) {
	const outside = "Agent file must be inside the current Docker build context"
	tests := []struct {
		name  string
		setup func(t *testing.T, ctx, elsewhere string) []string // returns the arguments
		want  string
	}{
		{
			name:  "no --file",
			setup: func(*testing.T, string, string) []string { return nil },
			want:  "Please specify agent file with --file",
		},
		{
			name:  "parent directory",
			setup: func(*testing.T, string, string) []string { return []string{"-f", "../x.yaml"} },
			want:  outside,
		},
		{
			name: "absolute path elsewhere",
			setup: func(_ *testing.T, _, elsewhere string) []string {
				return []string{"-f", filepath.Join(elsewhere, "x.yaml")}
			},
			want: outside,
		},
		{
			name: "symlink to a file outside",
			setup: func(t *testing.T, ctx, elsewhere string) []string {
				symlink(t, filepath.Join(elsewhere, "x.yaml"), filepath.Join(ctx, "link.yaml"))
				return []string{"-f", "link.yaml"}
			},
			want: outside,
		},
		{
			name: "relative symlink to a file outside",
			setup: func(t *testing.T, ctx, _ string) []string {
				symlink(t, "../x.yaml", filepath.Join(ctx, "link.yaml"))
				return []string{"-f", "link.yaml"}
			},
			want: outside,
		},
		{
			name: "symlinked directory outside",
			setup: func(t *testing.T, ctx, elsewhere string) []string {
				symlink(t, elsewhere, filepath.Join(ctx, "shared"))
				return []string{"-f", "shared/x.yaml"}
			},
			want: outside,
		},
		{
			// Lexically inside, but the kernel resolves ".." after the
			// symlink, which lands outside.
			name: "dot-dot after a symlinked directory",
			setup: func(t *testing.T, ctx, elsewhere string) []string {
				if err := os.Mkdir(filepath.Join(elsewhere, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				symlink(t, filepath.Join(elsewhere, "sub"), filepath.Join(ctx, "sub"))
				return []string{"-f", "sub/../x.yaml"}
			},
			want: outside,
		},
		{
			name:  "missing file",
			setup: func(*testing.T, string, string) []string { return []string{"-f", "nope.yaml"} },
			want:  "Agent file not found: nope.yaml",
		},
		{
			name: "directory",
			setup: func(t *testing.T, ctx, _ string) []string {
				if err := os.Mkdir(filepath.Join(ctx, "agents"), 0o755); err != nil {
					t.Fatal(err)
				}
				return []string{"-f", "agents"}
			},
			want: "is a directory",
		},
		{
			name: "newline in the name",
			setup: func(t *testing.T, ctx, _ string) []string {
				if err := os.WriteFile(filepath.Join(ctx, "a\nb.yaml"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"-f", "a\nb.yaml"}
			},
			want: "control character",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// elsewhere/x.yaml exists, and so does x.yaml beside the context.
			parent, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ctx := filepath.Join(parent, "ctx")
			elsewhere := filepath.Join(parent, "elsewhere")
			for _, d := range []string{ctx, elsewhere} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{filepath.Join(parent, "x.yaml"), filepath.Join(elsewhere, "x.yaml")} {
				if err := os.WriteFile(p, []byte("name: a\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(ctx)
			args := append([]string{"generate-dockerfile"}, tt.setup(t, ctx, elsewhere)...)
			r := runCLI(t, nil, neverServe(t), append(args, "-o", "out")...)
			if r.code != ExitUsage {
				t.Errorf("code = %d, want %d", r.code, ExitUsage)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
			for _, p := range []string{"out", "Dockerfile", filepath.Join(parent, "Dockerfile"), filepath.Join(elsewhere, "Dockerfile")} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists after a refusal (err %v)", p, err)
				}
			}
		})
	}
}

func TestDockerQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/app/agent.yaml", `"/app/agent.yaml"`},
		{"/app/my agent.yaml", `"/app/my agent.yaml"`},
		{`/app/a"b$c\d.yaml`, `"/app/a\"b\$c\\d.yaml"`},
	}
	for _, tt := range tests {
		if got := dockerQuote(tt.in); got != tt.want {
			t.Errorf("dockerQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
