package session_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// freshModule makes a module outside this one that requires xmppkit.dev
// from this checkout, as a user's program would, and returns its directory.
func freshModule(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a module of its own; not in -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/fresh\n\ngo 1.25.0\n\nrequire xmppkit.dev v0.0.0\n\nreplace xmppkit.dev => " + root + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// vet runs go vet on everything in dir, offline.
func vet(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet in a fresh module: %v\n%s", err, out)
	}
}

// TestREADMEProgram: the README's one-page component compiles as it
// stands, in a module of its own.
func TestREADMEProgram(t *testing.T) {
	dir := freshModule(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(package main\n.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("the README has no Go program")
	}
	for i, b := range blocks {
		p := filepath.Join(dir, "readme"+string(rune('a'+i)))
		os.Mkdir(p, 0o755)
		if err := os.WriteFile(filepath.Join(p, "main.go"), b[1], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vet(t, dir)
}

// TestExamplesInFreshModule: the Example files of the runtime and its
// transports compile when copied into a user's module: they use nothing
// but the public API.
func TestExamplesInFreshModule(t *testing.T) {
	dir := freshModule(t)
	n := 0
	for _, pkg := range []string{"mux", "component", "router", "xmpptest", "client", "session"} {
		files, _ := filepath.Glob(filepath.Join("..", pkg, "*example*_test.go"))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), `"xmppkit.dev/internal/`) {
				t.Errorf("%s imports internal/", f)
			}
			d := filepath.Join(dir, pkg)
			os.MkdirAll(d, 0o755)
			if err := os.WriteFile(filepath.Join(d, filepath.Base(f)), src, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n < 5 {
		t.Fatalf("only %d example files found", n)
	}
	vet(t, dir)
}
