package tiers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "xmppkit.dev"

// tier is one row of the table in docs/design.md.
type tier struct {
	name  string
	rank  int
	pkgs  []string
	lower []string // what it may take from lower tiers; nil means any
}

// readTable parses the rows between the tiers markers of docs/design.md.
func readTable(t *testing.T, path string) []tier {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name := regexp.MustCompile("`([^`]+)`")
	var out []tier
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "<!-- tiers"):
			in = true
			continue
		case strings.HasPrefix(line, "<!-- /tiers"):
			in = false
			continue
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("%s: tier row %q: want 3 cells", path, line)
		}
		tn := strings.TrimSpace(cells[0])
		if tn == "tier" || strings.HasPrefix(tn, "---") {
			continue
		}
		tr := tier{name: tn, rank: len(out)}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			tr.pkgs = append(tr.pkgs, m[1])
		}
		if strings.TrimSpace(cells[2]) != "any" {
			tr.lower = []string{}
			for _, m := range name.FindAllStringSubmatch(cells[2], -1) {
				tr.lower = append(tr.lower, m[1])
			}
		}
		out = append(out, tr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 2 {
		t.Fatalf("%s: no tier table between <!-- tiers --> and <!-- /tiers --> markers", path)
	}
	return out
}

type pkg struct {
	ImportPath   string
	Dir          string
	Imports      []string
	TestImports  []string
	XTestImports []string
	TestGoFiles  []string
	XTestGoFiles []string
}

// listPackages runs go list on every package of the SDK module at root and
// of the examples' module.
func listPackages(t *testing.T, root string) []pkg {
	t.Helper()
	// The examples are a module of their own, joined by go.work.
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,Imports,TestImports,XTestImports,TestGoFiles,XTestGoFiles", "./...", "./examples/...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func isInternal(r string) bool { return r == "internal" || strings.HasPrefix(r, "internal/") }

func TestTiers(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	table := readTable(t, filepath.Join(root, "docs", "design.md"))
	of := map[string]*tier{}
	for i := range table {
		for _, p := range table[i].pkgs {
			if prev, dup := of[p]; dup {
				t.Errorf("docs/design.md: %s is in tiers %q and %q", p, prev.name, table[i].name)
			}
			of[p] = &table[i]
		}
	}
	pkgs := listPackages(t, root)
	seen := map[string]bool{}
	for _, p := range pkgs {
		r, _ := rel(p.ImportPath)
		seen[r] = true
		tr := of[r]
		if tr == nil {
			t.Errorf("%s is in no tier: add it to the tier table of docs/design.md", r)
			continue
		}
		for _, imp := range p.Imports {
			ir, ok := rel(imp)
			if !ok {
				continue
			}
			it := of[ir]
			switch {
			case it == nil:
				// Reported as a package of its own.
			case it.rank > tr.rank:
				t.Errorf("%s (tier %s) imports %s of the higher tier %s", r, tr.name, ir, it.name)
			case it.rank < tr.rank && tr.lower != nil && !slices.Contains(tr.lower, ir) && !slices.Contains(tr.pkgs, ir):
				t.Errorf("%s (tier %s) imports %s (tier %s); from lower tiers it may take only %s",
					r, tr.name, ir, it.name, strings.Join(tr.lower, ", "))
			}
		}
		// The examples must compile when copied out of this module: no
		// internal/ in them or their tests.
		if strings.HasPrefix(r, "examples/") {
			for _, imp := range concat(p.Imports, p.TestImports, p.XTestImports) {
				if ir, ok := rel(imp); ok && isInternal(ir) {
					t.Errorf("%s imports %s: examples may use only public packages", r, ir)
				}
			}
		}
		if !isInternal(r) {
			checkExamples(t, r, p)
		}
	}
	for _, tr := range table {
		for _, p := range tr.pkgs {
			if !seen[p] {
				t.Logf("docs/design.md lists %s (tier %s), which does not exist yet", p, tr.name)
			}
		}
	}
}

// checkExamples fails for a test file of a public package that declares an
// Example function and imports internal/: a reader copies Examples.
func checkExamples(t *testing.T, r string, p pkg) {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range concat(p.TestGoFiles, p.XTestGoFiles) {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !slices.ContainsFunc(f.Decls, func(d ast.Decl) bool {
			fd, ok := d.(*ast.FuncDecl)
			return ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Example")
		}) {
			continue
		}
		for _, is := range f.Imports {
			path, _ := strconv.Unquote(is.Path.Value)
			if ir, ok := rel(path); ok && isInternal(ir) {
				t.Errorf("%s/%s has Examples and imports %s: Examples may use only public packages", r, name, ir)
			}
		}
	}
}

func concat(ss ...[]string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s...)
	}
	return out
}
