// Package daemon is what the example programs share to run as services an
// operator deploys: configuration from flags, the environment and a file
// (flags win); the data directory (XDG state directory, or systemd's
// StateDirectory); the client listener's certificate, kept across
// restarts; the component secret from a file; logging; the metrics,
// health and readiness endpoints.
package daemon

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Source says where a flag's value came from.
type Source int

const (
	Default Source = iota // not given anywhere
	File                  // the -config file
	Env                   // the environment
	Flag                  // the command line
)

// String returns "default", "file", "environment" or "flag".
func (s Source) String() string {
	return [...]string{"default", "file", "environment", "flag"}[s]
}

// Sources records where each flag's value came from (Parse).
type Sources struct {
	of    map[string]Source
	fs    *flag.FlagSet
	check bool
}

// Check reports whether -check was given: the program reports its settings
// (Report) and exits once they are valid, instead of running.
func (s *Sources) Check() bool { return s.check }

// Report writes every setting as name = value with its source, the values
// of secrets and passwords masked, for -check.
func (s *Sources) Report(w io.Writer) {
	var flags []*flag.Flag
	s.fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		if f.Name == "check" {
			continue
		}
		v := f.Value.String()
		if v != "" && (strings.Contains(f.Name, "secret") && !strings.Contains(f.Name, "file") || strings.Contains(f.Name, "password")) {
			v = "(set, not shown)"
		} else {
			v = strconv.Quote(redactURL(v))
		}
		fmt.Fprintf(w, "%s = %s (%s)\n", f.Name, v, s.of[f.Name])
	}
	fmt.Fprintln(w, "configuration ok")
}

// redactURL masks the password of a value that is a URL with one (a
// database URL such as postgres://user:pw@host/db); other values are
// returned as they are.
func redactURL(v string) string {
	if !strings.Contains(v, "://") || !strings.Contains(v, "@") {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	if _, ok := u.User.Password(); !ok {
		return v
	}
	return u.Redacted()
}

// Of returns the source of the flag name.
func (s *Sources) Of(name string) Source { return s.of[name] }

// Given reports whether the flag name was given anywhere (command line,
// environment or file), as opposed to left at its default.
func (s *Sources) Given(name string) bool { return s.of[name] != Default }

// EnvName returns the environment variable of flag name for prefix:
// PREFIX_NAME with dashes as underscores (PUBSUB_SECRET_FILE for
// secret-file).
func EnvName(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses the command line args into fs, then gives every flag that
// was not on the command line its value from the environment (EnvName)
// or, failing that, from the configuration file named by -config (which
// Parse defines on fs, with its own environment variable), in that order:
// flags win over the environment, which wins over the file. It sets
// fs.Usage to print that rule with each flag's variable. Positional
// arguments are an error (flags come first; see -h), as is an unknown name
// in the file or a value that does not parse.
//
// The file holds one "name = value" a line, name a flag's name; blank
// lines and lines starting with # are skipped, and a value may be written
// in double quotes (Go syntax) to keep surrounding spaces. Boolean flags
// take true or false.
func Parse(fs *flag.FlagSet, prefix string, args []string) (*Sources, error) {
	var config string
	var check bool
	fs.StringVar(&config, "config", "", "configuration file of name = value lines, one per flag (see above)")
	fs.BoolVar(&check, "check", false, "check the configuration, print the settings with their sources, and exit")
	fs.Usage = func() { usage(fs, prefix) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: flags take their values as -name value or -name=value, and come before anything else (see -h)", fs.Arg(0))
	}
	src := &Sources{of: map[string]Source{}, fs: fs}
	fs.Visit(func(f *flag.Flag) { src.of[f.Name] = Flag })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if src.of[f.Name] != Default {
			return
		}
		v, ok := os.LookupEnv(EnvName(prefix, f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("%s=%q: %w", EnvName(prefix, f.Name), v, err))
			return
		}
		src.of[f.Name] = Env
	})
	if envErr != nil {
		return nil, envErr
	}
	if config != "" {
		if err := readFile(fs, config, src); err != nil {
			return nil, err
		}
	}
	src.check = check
	return src, nil
}

func readFile(fs *flag.FlagSet, path string, src *Sources) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: want name = value", path, n)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.HasPrefix(value, `"`) {
			uq, err := strconv.Unquote(value)
			if err != nil {
				return fmt.Errorf("%s:%d: %s: %w", path, n, name, err)
			}
			value = uq
		}
		if fs.Lookup(name) == nil || name == "config" || name == "check" {
			return fmt.Errorf("%s:%d: no setting %q (the settings are the flags, see -h)", path, n, name)
		}
		if src.of[name] != Default {
			continue // given on the command line or in the environment
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, n, name, err)
		}
		src.of[name] = File
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	return nil
}

// usage prints the flags with their environment variables and the rule of
// precedence.
func usage(fs *flag.FlagSet, prefix string) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage of %s:\n\n", fs.Name())
	fmt.Fprintf(w, "Every setting is a flag, an environment variable (%s) or a line of the\n", EnvName(prefix, "name"))
	fmt.Fprintf(w, "-config file (name = value); flags win over the environment, which wins over\n")
	fmt.Fprintf(w, "the file, which wins over the defaults.\n\n")
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		printFlag(w, f, prefix)
	}
}

func printFlag(w io.Writer, f *flag.Flag, prefix string) {
	kind, help := flag.UnquoteUsage(f)
	line := "  -" + f.Name
	if kind != "" {
		line += " " + kind
	}
	fmt.Fprintf(w, "%s   (%s)\n", line, EnvName(prefix, f.Name))
	fmt.Fprintf(w, "    \t%s", strings.ReplaceAll(help, "\n", "\n    \t"))
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
		fmt.Fprintf(w, " (default %q)", f.DefValue)
	}
	fmt.Fprintln(w)
}

// ComponentSecret checks the settings of an example attached to a server
// (-server given) and returns the component secret: -domain must be given
// (the default *.localhost domain is the embedded router's, and a server
// would refuse it, or worse, accept it), -console is the embedded router's,
// and the secret must come from -secret or -secret-file (see Secret).
func ComponentSecret(src *Sources, prefix, secret, secretFile string, warn io.Writer) (string, error) {
	switch {
	case !src.Given("domain"):
		return "", errors.New("-server needs -domain: the component's domain as the server is configured for it (the default is the embedded router's)")
	case src.Given("console"):
		return "", errors.New("-console is the embedded router's: it does not go with -server")
	}
	s, err := Secret(secret, secretFile, warn)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("-server needs the component secret: -secret-file, -secret, %s or %s", EnvName(prefix, "secret-file"), EnvName(prefix, "secret"))
	}
	return s, nil
}
