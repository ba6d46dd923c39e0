package router

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stream"
)

// ClientStream is one client connection that a client transport outside
// this package serves for the router: package router/c2s runs RFC 6120
// client-to-server streams over TCP on it. The transport owns the
// negotiation (stream headers, STARTTLS, SASL against Router.Accounts,
// resource binding, RFC 6120 §4-§7); the router owns the connection's
// bounded write queue and slow-consumer policy, the limits on
// unauthenticated connections, and, once the client is bound, the reading
// loop that routes its stanzas (RFC 6120 §8, §10; RFC 6121), so that they
// are forwarded as the bytes read, without a copy into the transport.
//
// Life cycle: AcceptClient, negotiation on Reader and Writer, then Bind and
// Serve; or Fail (FailHeader) to end the stream before Bind. The router's
// Close ends the stream with system-shutdown at any point: Closing reports
// it, and reads on the connection fail at once.
type ClientStream struct {
	r      *Router
	c      *conn
	ac     *activityConn // what c reads through: the time of the last input
	host   string
	unauth bool // counted in Router.unauth
	cl     *client
}

// AcceptClient registers nc, a new client connection, with the router and
// starts the negotiation deadline (Config.HandshakeTimeout, up to Bind).
// It counts as unauthenticated until Bind: over Config.MaxUnauthPerIP from
// its source address or Config.MaxUnauth in all (shared with the XEP-0114
// listener) it is refused with the policy-violation stream error, sent
// after a stream header of ours (RFC 6120 §4.9.1.3), and AcceptClient
// returns that error with a nil stream. After Close it returns ErrClosed
// (nc is closed).
//
// Reads and writes go to nc: a transport that switches to TLS (STARTTLS)
// passes a net.Conn that it can switch underneath, so that the router's
// deadlines reach the connection in use.
func (r *Router) AcceptClient(nc net.Conn) (*ClientStream, error) {
	ac := &activityConn{Conn: nc}
	c := r.newConn(ac, stream.NSClient)
	if c == nil {
		return nil, ErrClosed
	}
	host, refused := r.addUnauth(nc)
	if refused != nil {
		c.headerError(stream.Header{NS: stream.NSClient, ID: stream.NewID(), Version: "1.0"}, refused)
		return nil, refused
	}
	nc.SetDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	return &ClientStream{r: r, c: c, ac: ac, host: host, unauth: true}, nil
}

// Reader returns the stream's reader, for the negotiation (Config.Limits
// apply). After a stream restart the transport calls Restart.
func (s *ClientStream) Reader() *stream.Reader { return s.c.rd }

// Restart prepares the reader for the new stream header of a stream
// restart (RFC 6120 §4.3.3, after STARTTLS or SASL): it reads the
// connection given to AcceptClient again (whose underlying connection the
// transport may have switched to TLS), dropping what was buffered.
func (s *ClientStream) Restart() { s.c.rd.Reset(s.c.nc) }

// Writer returns the stream's writer, for the negotiation.
func (s *ClientStream) Writer() *stream.Writer { return s.c.w }

// RemoteHost returns the connection's source address without port, as
// the limits count it.
func (s *ClientStream) RemoteHost() string { return s.host }

// Closing reports whether the router is ending the stream (its Close, or a
// newer session that replaced this one): the transport should stop and
// call Fail.
func (s *ClientStream) Closing() bool { return s.c.kicked.Load() != nil }

// Fail ends a stream that was not bound: it sends the stream error owed,
// then </stream:stream>, waits briefly for the peer's close and closes the
// connection. The error sent is the router's (Closing), else err when it is
// a *stream.Error of ours (not one the peer sent), else connection-timeout
// when err is the negotiation deadline; any other err (the peer went away)
// just closes.
func (s *ClientStream) Fail(err error) {
	c := s.c
	if isTimeout(err) && c.kicked.Load() == nil {
		c.kick(stream.NewError(stream.ConnectionTimeout, "negotiation not finished in time"))
	}
	var se *stream.Error
	if errors.As(err, &se) && !se.Remote {
		c.kick(se)
	}
	c.finish(err)
	s.done()
}

// FailHeader is Fail for a stream whose header could not be read (err from
// Reader.ReadHeader): when an answer is owed (bad input, the deadline, the
// router's Close) it first writes our stream header h, since a stream error
// needs one (RFC 6120 §4.9.1.3).
func (s *ClientStream) FailHeader(h stream.Header, err error) {
	s.c.answerNoHeader(h, err)
	s.Fail(err)
}

// done stops counting the stream as unauthenticated.
func (s *ClientStream) done() {
	if s.unauth {
		s.unauth = false
		s.r.doneUnauth(s.host)
	}
}

// Bind binds the authenticated full JID to the stream (RFC 6120 §7) and
// ends the negotiation: the stream no longer counts as unauthenticated and
// its deadline is cleared. result, when not nil, is written before the
// binding is visible to anyone (the bind result, so that no stanza overtakes
// it). lang is the xml:lang of the client's stream header (RFC 6120
// §4.7.4), stamped on the stanzas it sends without one. A resource bound
// already is handled by Config.Conflict: RefuseNew returns an error
// matching stream.ErrConflict (answer the bind with the conflict stanza
// error, RFC 6120 §7.7.2.2, and let the client try another); KickOld ends
// the older session with the conflict stream error. After Close it returns
// ErrClosed.
func (s *ClientStream) Bind(full jid.JID, lang string, result []byte) error {
	if s.cl != nil {
		return errors.New("router: ClientStream bound twice")
	}
	cl, err := s.r.bindClientWith(full, s.c, func() {
		if result != nil {
			s.c.w.WriteRaw(result)
		}
	})
	if err != nil {
		return err
	}
	cl.lang = lang
	s.cl = cl
	s.done()
	s.r.m.handshook(peerClient, s.c)
	s.c.authenticated()
	s.r.trust(s.host)
	s.c.nc.SetDeadline(time.Time{})
	if s.Closing() {
		s.c.nc.SetReadDeadline(time.Now()) // kicked while the deadline was cleared
	}
	s.r.log.Debug("router: client bound", "jid", full.String(), "remote", s.host)
	return nil
}

// Serve routes the stanzas the bound client sends until the stream ends,
// then unbinds it (its other resources, and whoever got its directed
// presence, see it go unavailable: RFC 6121 §4.5.2, §4.6.3) and closes the
// connection. Stanzas get from stamped with the client's full JID (RFC 6120
// §8.1.2.1). A stanza that is not in the jabber:client namespace, or an
// element that is not a stanza, ends the stream with
// unsupported-stanza-type (RFC 6120 §4.9.3.22); a from that is not the
// client's, with invalid-from (§4.9.3.9); a stream silent past
// Config.IdleTimeout and the ping that follows, with connection-timeout.
func (s *ClientStream) Serve() {
	c, cl := s.c, s.cl
	if cl == nil {
		s.Fail(stream.NewError(stream.InternalServerError, "stream served before binding"))
		return
	}
	defer s.r.watchIdle(c, s.ac, cl.full)()
	c.unroute = func() { s.r.unbindClient(cl) } // by finish, before the close handshake
	defer func() {
		if c.unroute != nil { // finish was not reached
			s.r.unbindClient(cl)
		}
	}()
	var scratch []byte
	for {
		el, err := c.rd.Next()
		if err != nil {
			c.finish(err)
			return
		}
		if err := s.r.fromClient(cl, el, &scratch); err != nil {
			var se *stream.Error
			if !errors.As(err, &se) {
				se = stream.NewError(stream.InternalServerError, "")
			}
			c.kick(se)
			c.finish(nil)
			return
		}
	}
}

// Listen listens on the TCP address addr and serves each accepted
// connection with serve, on its own goroutine, until Close (see
// ServeListener). It returns the address listened on. Client transports
// such as package router/c2s listen through it.
func (r *Router) Listen(addr string, serve func(net.Conn)) (net.Addr, error) {
	return r.listen(addr, func(ln net.Listener) error { return r.serveListener(ln, serve) })
}

// ServeListener accepts connections on ln until Close and serves each with
// serve on its own goroutine; Close closes ln and waits for these
// goroutines, so serve must return once the router is closed (a
// ClientStream's reads fail then). It returns ErrClosed after Close.
func (r *Router) ServeListener(ln net.Listener, serve func(net.Conn)) error {
	return r.serveListener(ln, serve)
}

// Logger returns the router's logger (Config.Logger), for transports that
// serve it.
func (r *Router) Logger() *slog.Logger { return r.log }
