package servertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// InspircdModules are the modules an InspIRCd server started here loads
// (module names of Debian's InspIRCd 3 build, /usr/lib/inspircd/modules):
// CAP (IRCv3 capability negotiation) and the IRCv3 extensions it ships.
// With them the server offers the capabilities account-notify, account-tag,
// away-notify, batch, cap-notify, chghost, echo-message, extended-join,
// extended-monitor, invite-notify, labeled-response, message-tags,
// multi-prefix, server-time, tls (STARTTLS) and userhost-in-names, and
// stamps messages with msgid and time tags. SASL (the sasl module) needs a
// services server linked to the network: it is loaded, with Anope, only
// with InspircdOptions.SASL.
var InspircdModules = []string{
	"cap", "ircv3", "ircv3_accounttag", "ircv3_batch", "ircv3_capnotify", "ircv3_chghost",
	"ircv3_ctctags", "ircv3_echomessage", "ircv3_invitenotify", "ircv3_labeledresponse",
	"ircv3_msgid", "ircv3_servertime", "monitor", "namesx", "uhnames",
}

// InspircdOptions configures an InspIRCd server. The zero value gives the
// defaults of a shared server.
type InspircdOptions struct {
	// ServerName is the IRC server name (RFC 2812 §1.1); default
	// "irc.test.local".
	ServerName string
	// Network is the network name in RPL_ISUPPORT; default "TestNet".
	Network string
	// Motd is the message of the day; default "Welcome to the test server.".
	Motd string
	// TLS adds a listener for IRC over TLS (RFC 7194) at Server.TLSAddr and
	// STARTTLS on the plain one (the tls capability), with a certificate
	// for localhost and 127.0.0.1 issued by a throwaway CA
	// (Server.CAFile, Server.CertPool; Server.CertSHA256 to pin it).
	TLS bool
	// SASL links Anope 2.0 (Debian's IRC services) to the server, so that
	// it offers SASL PLAIN and EXTERNAL (the sasl capability, IRCv3 SASL
	// 3.1), and registers Users as NickServ accounts. Anope is stopped
	// and started with the server; Kill leaves it running, and it
	// relinks when the server comes back.
	SASL bool
	// Users are the accounts registered with SASL (name = nick = account).
	// Nil means DefaultUsers().
	Users []User
	// ClientCerts makes the TLS listener ask clients for a certificate
	// (the sslprofile's requestclientcert; implies TLS) and loads sslinfo,
	// which gives each connection its certificate's SHA-256 fingerprint
	// (CertFP: WHOIS shows it as 276 to the user). A certificate is asked
	// for, not required, and not verified: any self-signed one has a
	// fingerprint ([NewClientCert]). With SASL the fingerprint reaches the
	// services, so SASL EXTERNAL (RFC 4422 Appendix A) logs in the account
	// that holds it ([Server.AddCertificate]).
	ClientCerts bool
	// Flood, when set, turns on InspIRCd's flood protection for clients
	// in place of the launcher's lenient class (no fake lag, a command
	// rate no client reaches).
	Flood *InspircdFlood
	// Extra is appended to the configuration, for example a <channels>
	// tag or more <module> tags.
	Extra string
}

// InspircdFlood is the flood protection of an InspIRCd connect class
// (<connect threshold commandrate fakelag>). Every command a client sends
// adds to its penalty (1 for most, more for some: 2 for JOIN, 4 for a
// nick change), which drains by Rate once a second. A client whose penalty
// reaches Threshold is disconnected with "Excess Flood", or with FakeLag
// has its further commands held back until the penalty drains.
type InspircdFlood struct {
	// Threshold is the penalty at which a client is stopped; 0 means 10
	// (InspIRCd's default).
	Threshold int
	// Rate is how many commands' worth of penalty drain each second; 0
	// means 1 (InspIRCd's default, commandrate 1000).
	Rate int
	// FakeLag delays a flooding client instead of disconnecting it.
	FakeLag bool
}

// ServicesName is the server name of the IRC services linked to an
// InspIRCd server started with SASL.
const ServicesName = "services.test.local"

// Inspircd starts a private InspIRCd (Debian's 3.x) server for the test on
// free loopback ports and stops it when the test ends. It loads
// [InspircdModules] and is configured for gateways and tests: no DNS or
// ident lookups, no connection or clone limits, nick length 30, no fake
// lag and a high command rate. The test skips (or fails under CI=true)
// when InspIRCd is not installed.
func Inspircd(t testing.TB, opts InspircdOptions) *Server {
	t.Helper()
	if opts.SASL {
		Require(t, KindAnope)
	}
	return private(t, KindInspircd, func() (*Server, error) { return newInspircd(opts) })
}

func newInspircd(opts InspircdOptions) (*Server, error) {
	if opts.Network == "" {
		opts.Network = "TestNet"
	}
	if opts.ClientCerts {
		opts.TLS = true
	}
	x, err := newIRCSetup("inspircd", opts.ServerName, opts.Motd, opts.TLS)
	if err != nil {
		return nil, err
	}
	opts.ServerName = x.s.Domain
	dir := x.s.Dir
	cfg := filepath.Join(dir, "inspircd.conf")
	linkPass := ""
	if opts.SASL {
		if opts.Users == nil {
			opts.Users = DefaultUsers()
		}
		x.s.Users = append([]User(nil), opts.Users...)
		var b [12]byte
		_, _ = rand.Read(b[:])
		linkPass = hex.EncodeToString(b[:])
	}
	linkPort := 0
	s, err := x.start(launchSpec{
		path: findBin("inspircd"),
		// --runasroot: CI runs as root; harmless otherwise. --nopid: no
		// pid file, the process is ours.
		args:         []string{"--nofork", "--nopid", "--runasroot", "--config=" + cfg},
		env:          baseEnv(dir),
		outLog:       filepath.Join(dir, "stdout.log"),
		termWait:     5 * time.Second,
		readyTimeout: 15 * time.Second,
	}, func(port, tlsPort int) error {
		if opts.SASL {
			ports, err := freePorts(1)
			if err != nil {
				return err
			}
			linkPort = ports[0]
		}
		return os.WriteFile(cfg, []byte(inspircdConfig(opts, x, port, tlsPort, linkPort, linkPass)), 0o644)
	})
	if err != nil || !opts.SASL {
		return s, err
	}
	if err := startAnope(s, opts, linkPort, linkPass); err != nil {
		_ = s.Stop()
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// startAnope starts Anope linked to the InspIRCd server s on linkPort,
// waits until its NickServ answers, and registers the users.
func startAnope(s *Server, opts InspircdOptions, linkPort int, linkPass string) error {
	dir := filepath.Join(s.Dir, "anope")
	for _, d := range []string{"conf", "data", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "services.motd"), []byte("xmppkit test services\n"), 0o644); err != nil {
		return err
	}
	conf := anopeConfig(dir, opts.Network, linkPort, linkPass)
	if err := os.WriteFile(filepath.Join(dir, "conf", "services.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	a := &Server{Name: "anope", Domain: ServicesName, Dir: dir, LogFile: filepath.Join(dir, "anope.log")}
	synced := []byte("SERVER: " + s.Domain + " (xmppkit test server) is done syncing")
	var logFrom int64
	a.spec = launchSpec{
		path: findBin("anope"),
		args: []string{"--nofork", "--confdir=" + filepath.Join(dir, "conf"), "--dbdir=" + filepath.Join(dir, "data"),
			"--logdir=" + filepath.Join(dir, "logs"), "--modulesdir=/usr/lib/anope", "--localedir=/usr/share/locale"},
		env:          baseEnv(dir),
		outLog:       a.LogFile,
		termWait:     5 * time.Second,
		readyTimeout: 20 * time.Second,
		beforeStart: func() error {
			logFrom = 0
			if fi, err := os.Stat(a.LogFile); err == nil {
				logFrom = fi.Size()
			}
			return nil
		},
		ready: func(context.Context) error {
			// Linked and synced, as Anope logs it on stdout since this start.
			data, err := os.ReadFile(a.LogFile)
			if err != nil || int64(len(data)) < logFrom || !bytes.Contains(data[logFrom:], synced) {
				return errors.New("anope has not synced with " + s.Domain + " yet")
			}
			return nil
		},
		afterReady: func(first bool) error {
			if !first {
				return nil // the accounts are in Anope's database
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// In parallel: InspIRCd completes a client's registration only
			// on its once-a-second background tick.
			return inParallel(len(s.Users), func(i int) error {
				u := s.Users[i]
				if err := ircNickServ(ctx, s.Addr, nil, u.Name, nsStep{cmd: "REGISTER " + u.Password + " " + u.Name + "@example.org", want: []string{"registered"}}); err != nil {
					return fmt.Errorf("register %s with NickServ: %w", u.Name, err)
				}
				return nil
			})
		},
	}
	if err := a.Start(); err != nil {
		return err
	}
	s.helpers = append(s.helpers, a)
	return nil
}

// nsStep is one command to NickServ, the texts one of which its answering
// NOTICE contains, and the texts that mark a refusal. With fail nil, any
// other NOTICE is a refusal; otherwise other NOTICEs are passed over (Anope
// also writes unprompted, for example when a client certificate
// identifies the connection), as are those holding one of ignore (checked
// first).
type nsStep struct {
	cmd                string
	want, fail, ignore []string
}

// answers reports whether line holds one of texts.
func answers(line string, texts []string) bool {
	for _, t := range texts {
		if strings.Contains(line, t) {
			return true
		}
	}
	return false
}

// ircNickServ connects to the IRC server at addr (over TLS with tc when
// not nil) and, with nick "", checks
// that NickServ is on the network (WHOIS answers 311); otherwise it
// registers as nick and sends the steps' commands to NickServ in turn,
// each once the NOTICE answering the one before contained its want.
func ircNickServ(ctx context.Context, addr string, tc *tls.Config, nick string, steps ...nsStep) error {
	c, err := dialDeadline(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if tc != nil {
		t := tls.Client(c, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return err
		}
		c = t
	}
	me := nick
	if me == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		me = "probe" + hex.EncodeToString(b[:])
	}
	if _, err := fmt.Fprintf(c, "NICK %s\r\nUSER %s 0 * :servertest\r\n", me, me); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	next := func() error {
		if len(steps) == 0 {
			_, _ = fmt.Fprintf(c, "QUIT\r\n")
			return errDone
		}
		_, err := fmt.Fprintf(c, "PRIVMSG NickServ :%s\r\n", steps[0].cmd)
		return err
	}
	var passed []string // NOTICEs from NickServ passed over
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if len(passed) > 0 {
				return fmt.Errorf("%w; NickServ said %q", err, passed)
			}
			return err
		}
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "PING":
			_, _ = fmt.Fprintf(c, "PONG %s\r\n", f[1])
		case len(f) >= 2 && f[1] == "001":
			if nick == "" {
				_, err = fmt.Fprintf(c, "WHOIS NickServ\r\n")
			} else {
				err = next()
			}
		case len(f) >= 2 && f[1] == "311":
			_, _ = fmt.Fprintf(c, "QUIT\r\n")
			return nil
		case len(f) >= 2 && f[1] == "401":
			return errors.New("NickServ is not on the network yet")
		case len(f) >= 3 && strings.HasPrefix(f[0], ":NickServ!") && f[1] == "NOTICE" && len(steps) > 0:
			st := steps[0]
			switch {
			case answers(line, st.ignore):
				passed = append(passed, strings.TrimSpace(line))
			case answers(line, st.fail):
				return fmt.Errorf("NickServ said %q to %q", strings.TrimSpace(line), strings.Fields(st.cmd)[0])
			case answers(line, st.want):
				steps = steps[1:]
				err = next()
			case st.fail == nil:
				return fmt.Errorf("NickServ said %q to %q", strings.TrimSpace(line), strings.Fields(st.cmd)[0])
			default:
				passed = append(passed, strings.TrimSpace(line))
			}
		case len(f) >= 1 && f[0] == "ERROR":
			return fmt.Errorf("server said %q", strings.TrimSpace(line))
		}
		if errors.Is(err, errDone) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var errDone = errors.New("done")

// AddCertificate adds the fingerprint of cert ([ClientCert.SHA256]) to
// the NickServ account of a user of an InspIRCd server started with SASL
// and ClientCerts: it connects to the TLS port presenting cert, identifies
// with the user's password and sends NickServ CERT ADD (Anope takes a
// user's own fingerprint only from the certificate the user presents).
// A client that then presents cert logs in to the account with SASL
// EXTERNAL. The fingerprint stays with the account across restarts; one
// fingerprint belongs to one account only.
func (s *Server) AddCertificate(account string, cert *ClientCert) error {
	if s.Name != "inspircd" || len(s.helpers) == 0 || s.TLSAddr == "" {
		return errors.New("servertest: AddCertificate needs an InspIRCd server started with SASL and ClientCerts")
	}
	password, ok := "", false
	for _, u := range s.Users {
		if u.Name == account {
			password, ok = u.Password, true
		}
	}
	if !ok {
		return fmt.Errorf("servertest: AddCertificate: %s is not one of the server's users", account)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var b [4]byte
	_, _ = rand.Read(b[:])
	tc := &tls.Config{RootCAs: s.CertPool(), ServerName: "localhost", Certificates: []tls.Certificate{cert.TLS}}
	// Anope 2.0's answers (modules/commands/ns_identify.cpp, ns_cert.cpp).
	// A certificate that an account holds identifies the connection to it
	// at once: to this account that is fine, to another a refusal.
	mine := []string{"you are now identified to \x02" + account + "\x02."}
	fail := []string{"you are now identified to", "already in use", "not using a client certificate",
		"certificate entries", "Access denied", "Password incorrect", "isn't registered", "not registered", "suspended"}
	err := ircNickServ(ctx, s.TLSAddr, tc, "cert"+hex.EncodeToString(b[:]),
		nsStep{cmd: "IDENTIFY " + account + " " + password, want: []string{"Password accepted", "You are already identified"},
			fail: fail, ignore: mine},
		nsStep{cmd: "CERT ADD", want: []string{"certificate list."}, fail: fail, ignore: mine})
	if err != nil {
		return fmt.Errorf("servertest: add a certificate to %s: %w", account, err)
	}
	return nil
}

// anopeConfig is the configuration of Anope 2.0 as the services of one
// InspIRCd 3 server: NickServ with REGISTER and IDENTIFY and no
// confirmation, SASL, a flat-file database, no mail, no nick enforcement.
func anopeConfig(dir, network string, linkPort int, linkPass string) string {
	q := strconv.Quote
	return fmt.Sprintf(`# generated by xmppkit servertest
uplink { host = "127.0.0.1"; ipv6 = no; ssl = no; port = %d; password = %s; }
serverinfo { name = %s; description = "xmppkit test services"; pid = %s; motd = %s; }
module { name = "inspircd3"; use_server_side_mlock = yes; use_server_side_topiclock = yes; }
networkinfo { networkname = %s; nicklen = 30; userlen = 10; hostlen = 64; chanlen = 32; modelistsize = 100;
	vhost_chars = "abcdefghijklmnopqrstuvwxyz0123456789.-"; allow_undotted_vhosts = false; disallow_start_or_end = ".-"; }
options { casemap = "ascii"; seed = 4819022; strictpasswords = no; badpasslimit = 1000; badpasstimeout = 1m; updatetimeout = 5s;
	expiretimeout = 30m; readtimeout = 5s; warningtimeout = 4h; timeoutcheck = 1s; retrywait = 1s;
	hideprivilegedcommands = yes; hideregisteredcommands = yes; }
service { nick = "NickServ"; user = "services"; host = %s; gecos = "Nickname Registration Service"; }
module { name = "nickserv"; client = "NickServ"; forceemail = no; confirmemailchanges = no; defaults = "ns_secure ns_private hide_email hide_mask";
	regdelay = 0s; expire = 0; secureadmins = yes; modeonid = yes; killquick = 20s; kill = 60s; enforceruser = "enforcer";
	enforcerhost = %s; releasetimeout = 1m; guestnickprefix = "Guest"; nonicknameownership = yes; passlen = 64; }
module { name = "help"; }
command { service = "NickServ"; name = "HELP"; command = "generic/help"; }
module { name = "ns_register"; registration = "none"; }
command { service = "NickServ"; name = "REGISTER"; command = "nickserv/register"; }
module { name = "ns_identify"; maxlogins = 100; }
command { service = "NickServ"; name = "IDENTIFY"; command = "nickserv/identify"; }
module { name = "ns_cert"; max = 5; }
command { service = "NickServ"; name = "CERT"; command = "nickserv/cert"; }
module { name = "m_sasl"; }
module { name = "db_flatfile"; database = "anope.db"; keepbackups = 0; fork = no; }
module { name = "enc_sha256"; }
mail { usemail = no; }
log { target = "services.log"; admin = "*"; override = "*"; commands = "*"; servers = "*"; users = "*"; other = "*"; rawio = no; debug = no; }
`, linkPort, q(linkPass), q(ServicesName), q(filepath.Join(dir, "data", "anope.pid")), q(filepath.Join(dir, "conf", "services.motd")),
		q(network), q(ServicesName), q(ServicesName))
}

// inspircdAttr quotes s for an attribute of InspIRCd's configuration
// (its own XML-like format, where & starts an entity and " ends a value).
func inspircdAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

func inspircdConfig(opts InspircdOptions, x *ircSetup, port, tlsPort, linkPort int, linkPass string) string {
	q := inspircdAttr
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by xmppkit servertest
<config format="xml">
<server name="%s" description="xmppkit test server" network="%s">
<admin name="test" nick="test" email="test@localhost">
<bind address="127.0.0.1" port="%d" type="clients">
<connect allow="*" timeout="60" pingfreq="120" hardsendq="4M" softsendq="1M" recvq="64K"
         %s localmax="100000" globalmax="100000"
         maxconnwarn="no" resolvehostnames="no" useident="no" limit="100000" maxchans="1000">
<cidr ipv4clone="32" ipv6clone="128">
<dns server="127.0.0.1" timeout="1">
<files motd="%s">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="%s">
<options syntaxhints="no" casemapping="ascii" announcets="yes" hostintopic="yes" pingwarning="15" defaultmodes="nt">
<performance quietbursts="yes" clonesonconnect="no">
<security maxtargets="20" userstats="Pu">
<limits maxnick="30" maxchan="64" maxtopic="390" maxquit="300" maxreal="130" maxkick="300" maxaway="200" maxident="10" maxhost="64">
`, q(opts.ServerName), q(opts.Network), port, inspircdFloodAttrs(opts.Flood), q(x.motd), q(x.s.LogFile))
	for _, m := range InspircdModules {
		fmt.Fprintf(&b, "<module name=\"%s\">\n", m)
	}
	if tlsPort != 0 {
		reqCert := "no"
		if opts.ClientCerts {
			reqCert = "yes"
			b.WriteString("<module name=\"sslinfo\">\n")
		}
		fmt.Fprintf(&b, `<module name="ssl_gnutls">
<module name="starttls">
<sslprofile name="tls" provider="gnutls" certfile="%s" keyfile="%s" hash="sha256" requestclientcert="%s">
<gnutls onrehash="no">
<bind address="127.0.0.1" port="%d" type="clients" sslprofile="tls">
`, q(x.tf.certFile), q(x.tf.keyFile), reqCert, tlsPort)
	}
	if linkPort != 0 {
		// The services link (anope needs hidechans and services_account).
		fmt.Fprintf(&b, `<module name="spanningtree">
<module name="services_account">
<module name="hidechans">
<module name="sasl">
<sasl target="%s">
<bind address="127.0.0.1" port="%d" type="servers">
<link name="%s" ipaddr="127.0.0.1" port="%d" allowmask="127.0.0.1/32" sendpass="%s" recvpass="%s">
<uline server="%s" silent="yes">
`, ServicesName, linkPort, ServicesName, linkPort, q(linkPass), q(linkPass), ServicesName)
	}
	if opts.Extra != "" {
		b.WriteString(opts.Extra)
		b.WriteString("\n")
	}
	return b.String()
}

// inspircdFloodAttrs are the flood attributes of the connect class: f's,
// or limits no test client reaches when f is nil.
func inspircdFloodAttrs(f *InspircdFlood) string {
	if f == nil {
		return `threshold="100000" commandrate="1000000" fakelag="no"`
	}
	threshold, rate, lag := f.Threshold, f.Rate, "no"
	if threshold <= 0 {
		threshold = 10
	}
	if rate <= 0 {
		rate = 1
	}
	if f.FakeLag {
		lag = "yes"
	}
	return fmt.Sprintf(`threshold="%d" commandrate="%d" fakelag="%s"`, threshold, rate*1000, lag)
}
