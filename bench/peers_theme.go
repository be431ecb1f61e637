package bench

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The transform suite's Diazo theme: the usual shape of a Plone theme's
// rules on a small theme page. They are compiled at every run, as the
// seed's buildout did, so that a change to them is measured at once.
var (
	//go:embed testdata/peers/rules.xml
	themeRules []byte
	//go:embed testdata/peers/theme.html
	themeHTML []byte
	//go:embed testdata/peers/requirements.txt
	diazoRequirements []byte
)

// themePrefix is the seed's absolute prefix for the theme's relative links
// ([theme] in the seed's buildout).
const themePrefix = "/static"

// compileTheme writes the rules and the theme into dir and compiles them
// with Diazo's diazocompiler from venv (installing it there first if
// needed). It returns the path of the compiled XSLT.
func compileTheme(ctx context.Context, venv, dir string, progress io.Writer) (string, error) {
	venv, err := filepath.Abs(venv)
	if err != nil {
		return "", fmt.Errorf("bench: -venv: %w", err)
	}
	compiler, err := ensureDiazo(ctx, venv, progress)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	for name, b := range map[string][]byte{"rules.xml": themeRules, "theme.html": themeHTML} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", fmt.Errorf("bench: theme: %w", err)
		}
	}
	xsl := filepath.Join(dir, "theme.xsl")
	argv := diazoArgv(compiler, dir, xsl)
	fmt.Fprintf(progress, "compiling the theme: %s\n", strings.Join(argv, " "))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: diazocompiler: %w\n%s", err, out)
	}
	return xsl, nil
}

// diazoArgv compiles dir's rules.xml (which names theme.html) into xsl, as
// the seed's [compile-theme] part does.
func diazoArgv(compiler, dir, xsl string) []string {
	return []string{compiler, "-r", filepath.Join(dir, "rules.xml"), "-a", themePrefix, "-o", xsl}
}

// ensureDiazo returns venv's diazocompiler, installing the pinned
// requirements into venv first when it is missing (and creating venv with
// python3 -m venv when that is missing too). Each step is bounded to five
// minutes.
func ensureDiazo(ctx context.Context, venv string, progress io.Writer) (string, error) {
	compiler := filepath.Join(venv, "bin", "diazocompiler")
	if _, err := os.Stat(compiler); err == nil {
		return compiler, nil
	}
	pip := filepath.Join(venv, "bin", "pip")
	if _, err := os.Stat(pip); err != nil {
		if err := runStep(ctx, progress, "python3", "-m", "venv", venv); err != nil {
			return "", err
		}
		// As scripts/pyenv.sh does: keep the environment out of git.
		if err := os.WriteFile(filepath.Join(venv, ".gitignore"), []byte("*\n"), 0o644); err != nil {
			return "", fmt.Errorf("bench: %w", err)
		}
	}
	req, err := os.CreateTemp("", "cairn-bench-diazo-*.txt")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	defer os.Remove(req.Name())
	if _, err := req.Write(diazoRequirements); err != nil {
		req.Close()
		return "", fmt.Errorf("bench: %w", err)
	}
	if err := req.Close(); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(progress, "%s missing; installing Diazo into %s\n", compiler, venv)
	if err := runStep(ctx, progress, pip, "install", "-q", "--disable-pip-version-check", "-r", req.Name()); err != nil {
		return "", err
	}
	if _, err := os.Stat(compiler); err != nil {
		return "", fmt.Errorf("bench: %w after installing diazo", err)
	}
	return compiler, nil
}

// runStep runs one set-up command, its output on progress, bounded to five
// minutes.
func runStep(ctx context.Context, progress io.Writer, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: %s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// diazoVersion is the version of diazo installed in venv.
func diazoVersion(ctx context.Context, venv string) string {
	py := filepath.Join(venv, "bin", "python")
	out, err := exec.CommandContext(ctx, py, "-c", "import importlib.metadata as m; print(m.version('diazo'))").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}
