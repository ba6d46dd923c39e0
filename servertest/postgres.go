package servertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresUser is the superuser of every PostgreSQL cluster started here.
// It authenticates without a password (trust) on loopback only.
const PostgresUser = "postgres"

// PostgresOptions configures a throwaway PostgreSQL cluster. The zero value
// gives the defaults of a shared server.
type PostgresOptions struct {
	// Databases are created once the server is up, besides the "postgres"
	// database every cluster has.
	Databases []string
	// Durable keeps fsync and full_page_writes on. By default they are
	// off, which only a crash of the machine can notice: every commit is
	// still written to the kernel before it returns (synchronous_commit
	// stays on), so a server killed with SIGKILL ([Server.Kill]) keeps
	// every committed transaction.
	Durable bool
}

// Postgres starts a private PostgreSQL cluster for the test: initdb in a
// throwaway directory, the server on a free loopback port and a private
// socket directory, trust authentication for [PostgresUser]. It is stopped
// by pid (SIGINT, PostgreSQL's fast shutdown, which disconnects clients)
// and its data removed when the test ends. [Server.URL] is the connection
// URL of the "postgres" database; [Server.Database] makes a database of
// the test's own.
//
// As root, initdb and the server run as the packaged postgres user
// (PostgreSQL refuses to run as root). The test skips (or fails under
// CI=true) when PostgreSQL is not installed.
func Postgres(t testing.TB, opts PostgresOptions) *Server {
	t.Helper()
	return private(t, KindPostgres, func() (*Server, error) { return newPostgres(opts) })
}

// postgresBinDir returns the newest /usr/lib/postgresql/VERSION/bin that
// holds initdb and postgres, or "".
func postgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p := findBin("initdb"); p != "" && findBin("postgres") != "" {
		return filepath.Dir(p)
	}
	return ""
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// postgresCred returns the credential to run PostgreSQL with: the postgres
// user when running as root, nil otherwise.
func postgresCred() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("servertest: PostgreSQL refuses to run as root and there is no postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func newPostgres(opts PostgresOptions) (*Server, error) {
	bin := postgresBinDir()
	if bin == "" {
		return nil, errors.New("servertest: PostgreSQL binaries (initdb, postgres) not found")
	}
	cred, uid, gid, err := postgresCred()
	if err != nil {
		return nil, err
	}
	dir, err := newDir("postgres")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	sock := filepath.Join(dir, "sock")
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return fail(err)
	}
	if cred != nil {
		for _, d := range []string{dir, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				return fail(fmt.Errorf("servertest: postgres: %w", err))
			}
		}
	}
	s := &Server{
		Name:      "postgres",
		Domain:    "127.0.0.1",
		Dir:       dir,
		SocketDir: sock,
		LogFile:   filepath.Join(dir, "postgres.log"),
	}
	// initdb: about 0.8 s. --no-sync: the throwaway cluster need not
	// survive a machine crash.
	// Its output (and the server's log) go to files we opened: the
	// child writes to the descriptors whatever user it runs as.
	initLog := filepath.Join(dir, "initdb.log")
	out, err := os.Create(initLog)
	if err != nil {
		return fail(err)
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", PostgresUser, "-A", "trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.Dir = dir
	cmd.Env = baseEnv(dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	err = cmd.Run()
	out.Close()
	if err != nil {
		log, _ := os.ReadFile(initLog)
		return fail(fmt.Errorf("servertest: initdb: %v\n%s", err, tailLines(log, 20)))
	}
	var port int
	pick := func() error {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		port = ports[0]
		s.Addr = loopback(port)
		s.URL = postgresURL(s.Addr, "postgres")
		return nil
	}
	if err := pick(); err != nil {
		return fail(err)
	}
	s.spec = launchSpec{
		path:         filepath.Join(bin, "postgres"),
		env:          baseEnv(dir),
		outLog:       s.LogFile,
		termWait:     10 * time.Second,
		stopSignal:   syscall.SIGINT, // fast shutdown: SIGTERM would wait for every client
		cred:         cred,
		readyTimeout: 30 * time.Second,
		beforeStart: func() error {
			s.spec.args = []string{"-D", data, "-k", sock, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
				"-c", "max_connections=200", "-c", "log_min_messages=warning"}
			if !opts.Durable {
				s.spec.args = append(s.spec.args, "-c", "fsync=off", "-c", "full_page_writes=off")
			}
			return nil
		},
		ready: func(ctx context.Context) error {
			_, err := pgQuery(ctx, s.Addr, PostgresUser, "postgres", "SELECT 1")
			return err
		},
		afterReady: func(first bool) error {
			if !first {
				return nil
			}
			for _, db := range opts.Databases {
				if _, err := s.CreateDatabase(db); err != nil {
					return err
				}
			}
			return nil
		},
	}
	if err := startWithRetry(s, pick); err != nil {
		return fail(err)
	}
	return s, nil
}

// postgresURL is the libpq connection URL of a database on the loopback
// server at addr, as PostgresUser without a password and without TLS.
func postgresURL(addr, db string) string {
	return "postgres://" + PostgresUser + "@" + addr + "/" + db + "?sslmode=disable"
}

// CreateDatabase creates a database on a PostgreSQL server and returns its
// connection URL. name must be a plain SQL identifier (letters, digits and
// underscores, not starting with a digit).
func (s *Server) CreateDatabase(name string) (string, error) {
	if s.Name != "postgres" {
		return "", fmt.Errorf("servertest: CreateDatabase on %s, not PostgreSQL", s.Name)
	}
	if !isIdent(name) {
		return "", fmt.Errorf("servertest: database name %q is not a plain identifier", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pgQuery(ctx, s.Addr, PostgresUser, "postgres", "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("servertest: create database %s: %w", name, err)
	}
	return postgresURL(s.Addr, name), nil
}

// Database creates a database of the test's own on a PostgreSQL server
// (private or shared) and returns its connection URL; it is dropped when
// the test ends. Tests sharing one server stay apart this way.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	url, err := s.CreateDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !s.Running() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pgQuery(ctx, s.Addr, PostgresUser, "postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("servertest: drop database %s: %v", name, err)
		}
	})
	return url
}

func isIdent(s string) bool {
	if s == "" || len(s) > 63 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0
}
