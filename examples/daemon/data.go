package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"xmppkit.dev/router/c2s"
)

// DataDir returns the default data directory of the program name: systemd's
// $STATE_DIRECTORY when the unit sets StateDirectory= (the first one, when
// it lists several), else $XDG_STATE_HOME/name, else ~/.local/state/name
// (the XDG Base Directory specification's state directory: data that
// persists across restarts but is not worth backing up apart from the
// program, unlike ~/.cache, which cache cleaners empty). Without a home
// directory it is ./name-data.
func DataDir(name string) string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return first
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, name)
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", name)
	}
	return name + "-data"
}

// MoveLegacyData moves the data of earlier versions of the examples, kept
// under os.UserCacheDir()/name, to dir when dir does not exist yet, and
// says so on out. It does nothing when there is nothing to move; a move
// that fails is reported, and the old directory is left in place.
func MoveLegacyData(name, dir string, out io.Writer) error {
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	old := filepath.Join(cache, name)
	if old == dir {
		return nil
	}
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("moving %s to %s: %w", old, dir, err)
	}
	if err := os.Rename(old, dir); err != nil {
		return fmt.Errorf("moving %s to %s (cache cleaners may delete it: move it by hand, or give -data %s): %w", old, dir, old, err)
	}
	fmt.Fprintf(out, "moved the data of %s from %s to %s (cache cleaners empty %s)\n", name, old, dir, cache)
	return nil
}

// Secret returns the component secret (XEP-0114) given as value or in the
// file path (a systemd credential, %d/secret, or a file only the service
// can read), never both. The file's content is trimmed of surrounding
// white space; an empty secret is an error. A file that others than its
// owner may read is used, with a warning on warn.
func Secret(value, path string, warn io.Writer) (string, error) {
	switch {
	case value != "" && path != "":
		return "", errors.New("give the secret either directly or as a file, not both")
	case path == "":
		return value, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(warn, "warning: the secret file %s can be read by others than its owner (mode %v); chmod 600 it\n", path, fi.Mode().Perm())
	}
	return s, nil
}

// Cert is the client listener's certificate as Certificate found or made
// it.
type Cert struct {
	TLS         *tls.Config
	Leaf        *x509.Certificate
	CertFile    string // the PEM file of the certificate ("" when generated in memory)
	Fingerprint string // SHA-256, as c2s.Fingerprint
	Created     bool   // generated now (a client that pinned another must pin this one)
}

// Certificate returns the certificate of the client listener: the PEM files
// certFile and keyFile when given (both, or neither), else the self-signed
// one kept in dataDir (c2s-cert.pem and c2s-key.pem, created on first use,
// see c2s.LoadOrCreateCertificate), else, without a data directory, one
// generated for this run only.
func Certificate(certFile, keyFile, dataDir string, domains []string) (*Cert, error) {
	c := &Cert{}
	var cert tls.Certificate
	var err error
	switch {
	case (certFile == "") != (keyFile == ""):
		return nil, errors.New("-cert and -key go together")
	case certFile != "":
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert/-key: %w", err)
		}
		c.CertFile = certFile
	case dataDir != "":
		c.CertFile = filepath.Join(dataDir, "c2s-cert.pem")
		cert, c.Created, err = c2s.LoadOrCreateCertificate(c.CertFile, filepath.Join(dataDir, "c2s-key.pem"), domains)
		if err != nil {
			return nil, err
		}
	default:
		cert, err = c2s.NewSelfSignedCertificate(domains)
		if err != nil {
			return nil, err
		}
		c.Created = true
	}
	c.Leaf = cert.Leaf
	c.Fingerprint = c2s.Fingerprint(cert.Leaf)
	c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	return c, nil
}

// Describe writes where the certificate is and its fingerprint, for the
// start-up lines.
func (c *Cert) Describe(w io.Writer) {
	where := c.CertFile
	if where == "" {
		where = "in memory (generated for this run; give -data or -cert/-key to keep one)"
	}
	fmt.Fprintf(w, "certificate: %s\n", where)
	fmt.Fprintf(w, "certificate SHA-256: %s (valid until %s)\n", c.Fingerprint, c.Leaf.NotAfter.UTC().Format(time.DateOnly))
	if c.Created && c.CertFile != "" {
		fmt.Fprintln(w, "generated a new self-signed certificate (first start, another domain, or the last one was expiring): clients pin this one")
	}
	if time.Now().After(c.Leaf.NotAfter) {
		fmt.Fprintf(w, "warning: the certificate expired on %s\n", c.Leaf.NotAfter.UTC().Format(time.DateOnly))
	}
}
