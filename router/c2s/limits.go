package c2s

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/router/internal/limit"
)

// Defaults of Config's login limits.
const (
	DefaultConnRate          = 2.0 // new connections a second, per source
	DefaultConnBurst         = 10
	DefaultFreeFailures      = 3 // per source
	DefaultFreeAccountFails  = 5 // per account
	DefaultFailureDelay      = time.Second
	DefaultMaxFailureDelay   = 2 * time.Minute
	DefaultForgetFailuresFor = 15 * time.Minute
)

// Stats counts what the listener did since New (see Server.Stats).
type Stats struct {
	Logins            uint64 // successful logins
	FailedLogins      uint64 // wrong passwords or proofs, unknown accounts
	DelayedLogins     uint64 // attempts refused with temporary-auth-failure: the source or the account must wait
	RefusedConns      uint64 // connections refused over ConnRate
	Downgrades        uint64 // SCRAM "y" refused while -PLUS was offered (RFC 5802 §6)
	BindingMismatches uint64 // -PLUS logins whose binding did not match the TLS connection
}

// limits are the listener's limiters and counters.
type limits struct {
	conn    limit.Rate    // new connections per source
	source  limit.Backoff // failed logins per source
	account limit.Backoff // failed logins per account
	known   limit.Recent  // account and source pairs that logged in lately
	log     limit.Log     // Info records of failures

	logins, failed, delayed, refused, downgrades, mismatches atomic.Uint64
}

// init sets the limiters from cfg.
func (l *limits) init(cfg *Config) {
	l.conn = limit.Rate{Rate: cfg.ConnRate, Burst: float64(cfg.ConnBurst)}
	if cfg.ConnRate == 0 {
		l.conn = limit.Rate{Rate: DefaultConnRate, Burst: DefaultConnBurst}
	}
	if cfg.ConnRate < 0 {
		l.conn = limit.Rate{}
	}
	ll := cfg.LoginLimits
	if ll.Delay <= 0 {
		ll.Delay = DefaultFailureDelay
	}
	if ll.MaxDelay <= 0 {
		ll.MaxDelay = DefaultMaxFailureDelay
	}
	if ll.Forget <= 0 {
		ll.Forget = DefaultForgetFailuresFor
	}
	if ll.PerSource == 0 {
		ll.PerSource = DefaultFreeFailures
	}
	if ll.PerAccount == 0 {
		ll.PerAccount = DefaultFreeAccountFails
	}
	l.source = limit.Backoff{Free: ll.PerSource, Base: ll.Delay, Max: ll.MaxDelay, Forget: ll.Forget}
	l.account = limit.Backoff{Free: ll.PerAccount, Base: ll.Delay, Max: ll.MaxDelay, Forget: ll.Forget}
	if ll.Disabled {
		l.source, l.account = limit.Backoff{Free: 1 << 30}, limit.Backoff{Free: 1 << 30}
	}
	l.known = limit.Recent{TTL: 24 * time.Hour}
	l.log = limit.Log{Rate: 10, Burst: 20}
}

// LoginLimits configures the delays after failed logins (RFC 6120 §13.8:
// limit password guessing). The first PerSource failures from one source
// (an IPv4 address, an IPv6 /64), and the first PerAccount failures for one
// account, cost nothing; each further one doubles the time before the next
// attempt is checked, from Delay up to MaxDelay; attempts before that get
// the temporary-auth-failure SASL failure (§6.5.11) without a check. A
// success clears the source and the account; a source where the account
// logged in during the last 24 hours is not held back by the account's
// delay (only by its own), so that guessing from elsewhere does not lock
// the user out. Failures are forgotten after Forget without one. Zero
// fields are the defaults (3, 5, 1 s, 2 min, 15 min).
type LoginLimits struct {
	PerSource, PerAccount int
	Delay, MaxDelay       time.Duration
	Forget                time.Duration
	Disabled              bool // no delays (tests, benchmarks)
}

// Stats returns the listener's counters.
func (s *Server) Stats() Stats {
	l := &s.lim
	return Stats{Logins: l.logins.Load(), FailedLogins: l.failed.Load(), DelayedLogins: l.delayed.Load(),
		RefusedConns: l.refused.Load(), Downgrades: l.downgrades.Load(), BindingMismatches: l.mismatches.Load()}
}

// accountKey is the key of the account user@domain: its bare JID when
// valid, else the raw name (an unknown account is limited all the same).
func accountKey(user []byte, domain string) string {
	if j, err := jid.New(string(user), domain, ""); err == nil {
		return j.String()
	}
	return strings.ToLower(string(user)) + "@" + domain
}

// admit says whether a login attempt for user from the session's source
// may be checked now; if not, the temporary-auth-failure to send. An
// admitted attempt is charged as a failure at once (and cleared by
// loginDone if it succeeds), so that attempts checked in parallel cannot
// all slip through before the first failure is recorded.
func (ss *session) admit(user []byte) *saslFailure {
	l, now := &ss.s.lim, time.Now()
	src := limit.Key(ss.cs.RemoteHost())
	acct := accountKey(user, ss.domain.Domain())
	known := l.known.Has(acct+" "+src, now)
	wait := l.source.Wait(src, now)
	if w := l.account.Wait(acct, now); w > wait && !known {
		wait = w
	}
	if wait > 0 {
		l.delayed.Add(1)
		secs := int((wait + time.Second - 1) / time.Second)
		return &saslFailure{cond: "temporary-auth-failure", text: fmt.Sprintf("too many failed logins: try again in %d s", secs)}
	}
	ss.srcDelay = l.source.Fail(src, now)
	ss.acctDelay = l.account.Fail(acct, now)
	return nil
}

// loginDone records the outcome of a login admit let through.
func (ss *session) loginDone(user []byte, ok bool) {
	l, now := &ss.s.lim, time.Now()
	host := ss.cs.RemoteHost()
	src := limit.Key(host)
	acct := accountKey(user, ss.domain.Domain())
	if ok {
		l.logins.Add(1)
		l.source.Succeed(src)
		l.account.Succeed(acct)
		l.known.Add(acct+" "+src, now)
		return
	}
	l.failed.Add(1)
	if allowed, suppressed := l.log.Allow(now); allowed {
		args := []any{"remote", host, "account", acct, "source_delay", ss.srcDelay, "account_delay", ss.acctDelay}
		if suppressed > 0 {
			args = append(args, "suppressed", suppressed)
		}
		ss.s.log.Info("c2s: login failed", args...)
	}
}
