package router

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// ListenComponents listens on the TCP address addr (e.g. "127.0.0.1:5347")
// for external components (XEP-0114) and serves them in the background
// until Close. It returns the address listened on.
func (r *Router) ListenComponents(addr string) (net.Addr, error) {
	return r.listen(addr, r.ServeComponents)
}

// listen listens on the TCP address addr and runs serve on the listener in
// a goroutine the router's Close waits for. It returns the address listened
// on, or ErrClosed (closing the new listener) if the router is closed.
func (r *Router) listen(addr string, serve func(net.Listener) error) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ln.Close()
		return nil, ErrClosed
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		_ = serve(ln)
	}()
	return ln.Addr(), nil
}

// ServeComponents accepts external component connections (XEP-0114, the
// server side of the handshake) on ln until Close, which closes ln; it then
// returns ErrClosed. Each connection is served on its own goroutine.
func (r *Router) ServeComponents(ln net.Listener) error {
	return r.serveListener(ln, r.serveComponent)
}

// serveListener accepts on ln and runs serve for each connection.
func (r *Router) serveListener(ln net.Listener, serve func(net.Conn)) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	r.listeners[ln] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.listeners, ln)
		r.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			r.mu.RLock()
			closed := r.closed
			r.mu.RUnlock()
			if closed {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does.
			r.log.Warn("router: accept failed", "err", err)
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			nc.Close()
			return ErrClosed
		}
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			serve(nc)
		}()
	}
}

// handshakeDigest is the XEP-0114 §3 handshake value: the lowercase hex
// SHA-1 of the stream id followed by the secret.
func handshakeDigest(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}

// serveComponent runs the server side of XEP-0114 on nc, then routes the
// component's stanzas until the stream ends.
func (r *Router) serveComponent(nc net.Conn) {
	c := r.newConn(nc, stream.NSComponent)
	if c == nil {
		return
	}
	host, refused := r.addUnauth(nc)
	if refused != nil {
		c.headerError(stream.Header{NS: stream.NSComponent, ID: stream.NewID()}, refused)
		return
	}
	authed := false
	defer func() {
		if !authed {
			r.doneUnauth(host)
		}
	}()
	// A read deadline only: a write deadline would also stop the stream
	// error that reports the timeout.
	nc.SetReadDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	id := stream.NewID()
	hdr, err := c.rd.ReadHeader()
	if err != nil {
		if c.answerNoHeader(stream.Header{NS: stream.NSComponent, ID: id}, err) {
			c.finish(err)
		} else {
			c.release() // gone before its header: nothing to answer
		}
		return
	}
	// XEP-0114 §3: to names the component's domain. An unserved domain is
	// refused before the handshake, as Prosody does.
	d, derr := jid.Parse(hdr.To)
	secret, known := r.cfg.Secrets[d.Domain()]
	if derr != nil || d.Local() != "" || d.Resource() != "" || !known {
		c.headerError(stream.Header{NS: stream.NSComponent, ID: id},
			stream.NewError(stream.HostUnknown, "no component is configured for "+hdr.To))
		return
	}
	domain := d.DomainJID()
	c.w.WriteHeader(stream.Header{NS: stream.NSComponent, From: domain.String(), ID: id})
	el, err := c.rd.Next()
	if err != nil {
		if isTimeout(err) && c.kicked.Load() == nil {
			c.kick(stream.NewError(stream.ConnectionTimeout, "no handshake in time"))
		}
		c.finish(err)
		return
	}
	if !el.Is(stream.NSComponent, "handshake") {
		c.kick(stream.NewError(stream.NotAuthorized, "expected <handshake/>"))
		c.finish(nil)
		return
	}
	text, terr := el.Text()
	want := handshakeDigest(id, secret)
	got := strings.ToLower(strings.TrimSpace(text))
	if terr != nil || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.kick(stream.NewError(stream.NotAuthorized, "handshake does not match"))
		c.finish(nil)
		return
	}
	// Take the route, by the conflict policy. <handshake/> is queued before
	// the route exists, so that no stanza can overtake it; the handshake
	// metric is observed before it goes out, so that whoever sees the
	// answer sees the metric too.
	r.mu.Lock()
	var old route
	var evict *member
	refuse := ""
	if r.links(domain.Domain()) > 1 {
		// A balanced domain: the connection joins its group.
		if g, ok := r.comps[domain.Domain()].(*group); ok && !g.isDead() && !g.hasRoom() && r.cfg.Conflict == RefuseNew {
			refuse = "all links of the component are connected"
		}
	} else {
		old = r.comps[domain.Domain()]
		if _, inproc := old.(*attachment); old != nil && (r.cfg.Conflict == RefuseNew || inproc) {
			refuse = "component already connected"
		}
	}
	if refuse != "" {
		r.mu.Unlock()
		c.kick(stream.NewError(stream.Conflict, refuse))
		c.finish(nil)
		return
	}
	r.m.handshook(peerComponent, c)
	c.w.WriteRaw([]byte("<handshake/>"))
	if r.links(domain.Domain()) > 1 {
		c.member, evict = r.addMember(domain, c)
	} else {
		r.comps[domain.Domain()] = c
	}
	r.mu.Unlock()
	if old != nil {
		r.m.kicked(false)
		old.kick(stream.NewError(stream.Conflict, "replaced by a new connection"))
	}
	if evict != nil {
		r.m.kicked(false)
		evict.rt.kick(stream.NewError(stream.Conflict, "replaced by a new connection"))
	}
	r.doneUnauth(host)
	r.trust(host)
	authed = true
	c.authenticated()
	// The route goes as soon as reading stops, before the stream is closed,
	// so that the domain is free for a reconnection at once.
	if m := c.member; m != nil {
		c.unroute = func() { m.g.leave(m) }
	} else {
		c.unroute = func() {
			r.mu.Lock()
			if r.comps[domain.Domain()] == c {
				delete(r.comps, domain.Domain())
			}
			r.mu.Unlock()
		}
	}
	nc.SetReadDeadline(time.Time{})
	if k := c.kicked.Load(); k != nil {
		nc.SetReadDeadline(time.Now()) // kicked while we set the deadlines
	}
	r.log.Debug("router: component connected", "domain", domain.String(), "remote", nc.RemoteAddr().String())
	if c.member != nil {
		r.grantLinkUpOn(domain, c) // to this link itself: each process needs them
	} else {
		r.grantLinkUp(domain) // XEP-0356/0355 advertisements (grants.go)
	}
	var scratch []byte
	for {
		el, err := c.rd.Next()
		if err != nil {
			c.finish(err)
			return
		}
		if !el.IsStanza() {
			c.kick(stream.NewError(stream.UnsupportedStanzaType, "not a stanza"))
			c.finish(nil)
			return
		}
		r.fromComponent(c, domain, el, &scratch)
	}
}

var errSpoofed = stanza.NewError(stanza.Forbidden, "from is not at the component's domain")

// fromComponent routes one stanza from the component connected as domain.
// el is valid during the call only. A from outside the domain is refused
// (forbidden); a missing from is stamped with the domain, and a from written
// in a non-canonical form (upper case, a trailing dot: equal to a JID of the
// domain only after RFC 7622 preparation) is stamped with its canonical
// form, so that recipients never see a spelling the router did not check.
func (r *Router) fromComponent(c *conn, domain jid.JID, el *stream.Element, scratch *[]byte) {
	p := &c.pkt // reused: routing is synchronous and nothing keeps p
	raw := el.Raw()
	*p = packet{raw: raw}
	if !elementHeader(el, &p.h) {
		return
	}
	switch {
	case p.h.badAddr != nil:
		r.replyDirect(c, domain, p, p.h.badAddr)
		return
	case !p.h.hasFrom:
		// Stamp the component's domain (only the start tag changes).
		*scratch = stampFrom((*scratch)[:0], raw, &p.h, domain)
		p.raw = *scratch
	case p.h.from.Domain() != domain.Domain():
		r.denied(ReasonForgedFrom, packetAttrs(&p.h, "component", domain.String())...)
		r.replyDirect(c, domain, p, errSpoofed)
		return
	case !p.h.fromExact:
		*scratch = stampFrom((*scratch)[:0], raw, &p.h, p.h.from)
		p.raw = *scratch
	}
	if !p.h.hasTo {
		r.replyDirect(c, domain, p, errNoTo)
		return
	}
	if m := c.member; m != nil {
		m.g.noteAsk(m, p)
	}
	r.route(p)
}

// replyDirect answers p, a stanza the component connected as domain sent
// on c, with the error e, written on c itself rather than routed. The error
// is addressed to the sender (RFC 6120 §8.3.1): to p's from when that is a
// valid address at the domain, else to the domain itself, never to a
// forged or malformed from; it comes from the router's domain, the entity
// that returns it (§8.3.1 lets it name itself). Errors are never answered.
func (r *Router) replyDirect(c *conn, domain jid.JID, p *packet, e error) {
	if p.h.typ == stanza.TypeError || (p.h.kind == stanza.IQ && p.h.typ == stanza.TypeResult) {
		r.dropped(ReasonErrorNoRecipient, packetAttrs(&p.h, "component", domain.String(), "err", e)...)
		return
	}
	st, _ := p.stanza()
	if st == nil {
		return
	}
	var se *stanza.Error
	errors.As(e, &se)
	reply := st.ErrorReply(se)
	if reply == nil {
		return
	}
	if st.From.IsZero() || st.From.Domain() != domain.Domain() {
		reply.To = domain
	}
	reply.From = r.serverJID()
	_ = c.deliver(stanzaPacket(reply))
}

// serverJID returns the router's primary domain as a JID.
func (r *Router) serverJID() jid.JID {
	j, _ := domainJID(r.cfg.Domains[0])
	return j
}
