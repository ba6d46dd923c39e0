package servertest

import (
	"context"
	"os"
	"path/filepath"
)

// ircSetup is what the ngircd and InspIRCd launchers share: the throwaway
// directory, the MOTD file, and with TLS a certificate for localhost and
// the server name issued by a throwaway CA.
type ircSetup struct {
	s    *Server
	motd string // the MOTD file
	tls  bool
	tf   tlsFiles
}

// newIRCSetup makes the directory of an IRC server called name (the
// software) serving serverName; "" serverName and motd take the defaults
// irc.test.local and "Welcome to the test server.".
func newIRCSetup(name, serverName, motd string, withTLS bool) (*ircSetup, error) {
	if serverName == "" {
		serverName = "irc.test.local"
	}
	if motd == "" {
		motd = "Welcome to the test server."
	}
	dir, err := newDir(name)
	if err != nil {
		return nil, err
	}
	x := &ircSetup{
		s:    &Server{Name: name, Domain: serverName, Dir: dir, LogFile: filepath.Join(dir, name+".log")},
		motd: filepath.Join(dir, name+".motd"),
		tls:  withTLS,
	}
	err = os.WriteFile(x.motd, []byte(motd+"\n"), 0o644)
	if err == nil && withTLS {
		if x.tf, err = writeCAChain(filepath.Join(dir, "tls"), "localhost", serverName); err == nil {
			x.s.CAFile, x.s.CertFile, x.s.KeyFile = x.tf.caFile, x.tf.certFile, x.tf.keyFile
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return x, nil
}

// pick picks the plain port and, with TLS, the TLS port, sets the server's
// addresses and has write write the configuration for them (tlsPort 0
// without TLS).
func (x *ircSetup) pick(write func(port, tlsPort int) error) func() error {
	return func() error {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		x.s.Addr = loopback(ports[0])
		tlsPort := 0
		if x.tls {
			tlsPort = ports[1]
			x.s.TLSAddr = loopback(tlsPort)
		}
		return write(ports[0], tlsPort)
	}
}

// ready succeeds once the plain port takes connections and, with TLS, the
// TLS port completes a handshake verified with the CA.
func (x *ircSetup) ready(ctx context.Context) error {
	if err := probeTCP(ctx, x.s.Addr); err != nil || !x.tls {
		return err
	}
	return probeTLS(ctx, x.s.TLSAddr, x.s.CertPool())
}

// start writes the configuration, starts the server with spec (its ready
// is x.ready) and returns it; on failure it removes the directory.
func (x *ircSetup) start(spec launchSpec, write func(port, tlsPort int) error) (*Server, error) {
	pick := x.pick(write)
	err := pick()
	if err == nil {
		spec.ready = x.ready
		x.s.spec = spec
		err = startWithRetry(x.s, pick)
	}
	if err != nil {
		os.RemoveAll(x.s.Dir)
		return nil, err
	}
	return x.s, nil
}
