package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"xmppkit.dev/internal/forward"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// XEP-0356 (Privileged Entity) and XEP-0355 (Namespace Delegation), server
// side: the router grants components privileges and delegates namespaces to
// them by configuration, as Prosody's mod_privilege and mod_delegation do,
// in the latest namespaces (urn:xmpp:privilege:2, urn:xmpp:delegation:2).
// The hooks elsewhere are single calls: initGrants (New), grantLinkUp
// (Attach, the XEP-0114 handshake), grantIQ and grantAnswer (ownIQ),
// privilegedMessage (serveServer), presenceToPrivileged (presence
// broadcast); delegation.go holds the delegation half.

// Privileges are the XEP-0356 permissions the router grants one component,
// by the values of the XEP (§3.1, §4.1, §6.1), like a server's
// configuration (Prosody's privileged_entities, ejabberd's mod_privilege).
// An empty field grants nothing of that kind.
type Privileges struct {
	// Component is the domain of the component that gets them.
	Component string
	// Roster is "get", "set" or "both": the component may read or change
	// the rosters of the router's accounts (iq to the account's bare JID),
	// and with get or both it gets their roster pushes (v0.4).
	Roster string
	// Message is "outgoing": the component may send messages as the
	// router's domains and the bare JIDs of its accounts.
	Message string
	// Presence is "managed_entity" (the component gets the available and
	// unavailable presences of the router's accounts) or "roster" (the
	// same: the router's only contacts are its accounts and components).
	Presence string
	// IQ maps namespaces to "get", "set" or "both": the component may send
	// IQs of that type and payload namespace as an account (v0.4
	// privileged IQs).
	IQ map[string]string
}

// Delegation delegates the IQs of a namespace to a component (XEP-0355
// §4.1, admin mode): IQ get and set requests in Namespace to a local
// domain, or to an account's bare JID (also without to), go to Component,
// and its answers to the requester. Namespace may also be one of the v0.5
// pseudo-namespaces for bare JID discovery
// ("urn:xmpp:delegation:2:bare:disco#info:*", "...:disco#items:*"), which
// delegate the disco#info requests to accounts for nodes the router does
// not know, and their disco#items requests without node.
type Delegation struct {
	Namespace string
	Component string
	// Filtering lists attributes the payload element must all carry for
	// the request to be delegated (§4.1); without them it is served as if
	// nothing were delegated.
	Filtering []string
}

const (
	nsPrivilege  = "urn:xmpp:privilege:2"
	nsDelegation = "urn:xmpp:delegation:2"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"

	// Prefixes of the ids of the IQs the router sends for the XEPs and
	// awaits the answers to.
	privIQPrefix = "xk-piq-"
	delegPrefix  = "xk-dlg-"
	discoPrefix  = "xk-dsc-"

	// DefaultForwardTimeout is Config.ForwardTimeout's default.
	DefaultForwardTimeout = 30 * time.Second
)

// grant is one component's privileges, as checked.
type grant struct {
	domain               string
	rosterGet, rosterSet bool
	message              bool
	presence             bool
	iq                   map[string][2]bool // namespace → get, set
	adv                  stanza.Element     // the <privilege/> advertisement
}

// grants is the router's XEP-0356/0355 state.
type grants struct {
	byComp   map[string]*grant        // component domain → its privileges
	deleg    map[string]*Delegation   // namespace → delegation
	delegBy  map[string][]*Delegation // component domain → its delegations
	timeout  time.Duration
	mu       sync.Mutex
	pending  map[string]*grantWait // id → an IQ awaiting its answer
	nested   map[string]*nesting   // component domain → what it answered the disco queries
	stopping bool
}

// grantWait is an IQ the router sent and awaits the answer to: from is who
// may answer (checked), done runs once with the answer, or with nil and
// the error to report (no answer in time, an undecodable one).
type grantWait struct {
	from  func(jid.JID) bool
	done  func(ans *stanza.Stanza, err *stanza.Error)
	timer *time.Timer
}

// errNoAnswer is what a requester gets when the component does not answer
// an IQ the router forwarded in time.
var errNoAnswer = &stanza.Error{Type: stanza.Wait, Condition: stanza.RemoteServerTimeout, Text: "the component did not answer in time"}

func parseAccess(v string) ([2]bool, error) {
	switch v {
	case "get":
		return [2]bool{true, false}, nil
	case "set":
		return [2]bool{false, true}, nil
	case "both":
		return [2]bool{true, true}, nil
	}
	return [2]bool{}, fmt.Errorf("%q is not get, set or both", v)
}

// initGrants checks Config.Privileges and Config.Delegations and sets the
// router up to serve them.
func (r *Router) initGrants(cfg Config) error {
	g := &r.grants
	g.timeout = cfg.ForwardTimeout
	if g.timeout <= 0 {
		g.timeout = DefaultForwardTimeout
	}
	comp := func(what, d string) (string, error) {
		j, err := domainJID(d)
		if err != nil {
			return "", fmt.Errorf("router: %s: %w", what, err)
		}
		if r.local[j.Domain()] {
			return "", fmt.Errorf("router: %s: %q is a local domain", what, d)
		}
		return j.Domain(), nil
	}
	for _, p := range cfg.Privileges {
		d, err := comp("Privileges", p.Component)
		if err != nil {
			return err
		}
		if g.byComp[d] != nil {
			return fmt.Errorf("router: Privileges: %s given twice", d)
		}
		gr := &grant{domain: d}
		adv := stanza.NewBuilder(nsPrivilege, "privilege")
		if p.Roster != "" {
			a, err := parseAccess(p.Roster)
			if err != nil {
				return fmt.Errorf("router: Privileges of %s: roster %w", d, err)
			}
			gr.rosterGet, gr.rosterSet = a[0], a[1]
			adv.Child("", "perm").Attr("access", "roster").Attr("type", p.Roster).End()
		}
		switch p.Message {
		case "":
		case "outgoing":
			gr.message = true
			adv.Child("", "perm").Attr("access", "message").Attr("type", "outgoing").End()
		default:
			return fmt.Errorf("router: Privileges of %s: message %q is not outgoing", d, p.Message)
		}
		switch p.Presence {
		case "":
		case "managed_entity", "roster":
			gr.presence = true
			adv.Child("", "perm").Attr("access", "presence").Attr("type", p.Presence).End()
		default:
			return fmt.Errorf("router: Privileges of %s: presence %q is not managed_entity or roster", d, p.Presence)
		}
		if len(p.IQ) > 0 {
			gr.iq = map[string][2]bool{}
			adv.Child("", "perm").Attr("access", "iq")
			for _, ns := range slices.Sorted(maps.Keys(p.IQ)) {
				a, err := parseAccess(p.IQ[ns])
				if err != nil || ns == "" {
					return fmt.Errorf("router: Privileges of %s: iq %q: %v", d, ns, err)
				}
				gr.iq[ns] = a
				adv.Child("", "namespace").Attr("ns", ns).Attr("type", p.IQ[ns]).End()
			}
			adv.End()
		}
		gr.adv = adv.Element()
		if g.byComp == nil {
			g.byComp = map[string]*grant{}
		}
		g.byComp[d] = gr
		r.known[d] = true
	}
	for i := range cfg.Delegations {
		dl := cfg.Delegations[i]
		d, err := comp("Delegations", dl.Component)
		if err != nil {
			return err
		}
		if dl.Namespace == "" {
			return fmt.Errorf("router: Delegations: a delegation to %s without namespace", d)
		}
		if g.deleg[dl.Namespace] != nil {
			return fmt.Errorf("router: Delegations: %s delegated twice", dl.Namespace)
		}
		dl.Component = d
		if g.deleg == nil {
			g.deleg, g.delegBy = map[string]*Delegation{}, map[string][]*Delegation{}
		}
		g.deleg[dl.Namespace] = &dl
		g.delegBy[d] = append(g.delegBy[d], &dl)
		r.known[d] = true
	}
	for _, gr := range g.byComp {
		if gr.rosterGet {
			r.watchRoster(r.rosterToPrivileged)
			break
		}
	}
	return nil
}

// stopGrants ends the waits at Close: no answer is sent any more.
func (r *Router) stopGrants() {
	g := &r.grants
	g.mu.Lock()
	g.stopping = true
	for id, w := range g.pending {
		w.timer.Stop()
		delete(g.pending, id)
	}
	g.mu.Unlock()
}

// privilegeOf returns the privileges of the component whose address from
// is, or nil.
func (r *Router) privilegeOf(from jid.JID) *grant {
	if r.grants.byComp == nil || from.IsZero() {
		return nil
	}
	return r.grants.byComp[from.Domain()]
}

// isUp reports whether the component domain has a route.
func (r *Router) isUp(domain string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.comps[domain] != nil
}

// grantLinkUp advertises to the component that just took its route what it
// is granted (XEP-0356 §3.2, XEP-0355 §4.1), one message from each local
// domain, sends it the current presences its privilege covers, and asks it
// about the namespaces delegated to it (XEP-0355 §7.2). Called once the
// route exists, so that the advertisement precedes any other stanza of the
// router's.
func (r *Router) grantLinkUp(comp jid.JID) { r.grantLinkUpOn(comp, nil) }

// grantLinkUpOn is grantLinkUp with the advertisements delivered to the
// route on itself, the link that just came up, rather than routed to the
// domain (a balanced domain's links may be separate processes, each
// needing them); nil routes them.
func (r *Router) grantLinkUpOn(comp jid.JID, on route) {
	g := &r.grants
	gr := g.byComp[comp.Domain()]
	dels := g.delegBy[comp.Domain()]
	if gr == nil && len(dels) == 0 {
		return
	}
	var dadv stanza.Element
	if len(dels) > 0 {
		b := stanza.NewBuilder(nsDelegation, "delegation")
		for _, dl := range dels {
			b.Child("", "delegated").Attr("namespace", dl.Namespace)
			for _, a := range dl.Filtering {
				b.Child("", "attribute").Attr("name", a).End()
			}
			b.End()
		}
		dadv = b.Element()
	}
	for _, d := range r.Domains() {
		from, _ := domainJID(d)
		for _, el := range []stanza.Element{gr.advertisement(), dadv} {
			if el.Local == "" {
				continue
			}
			m := stanza.NewMessage("", comp, "")
			m.From = from
			m.SetPayloadElements(el)
			if on == nil {
				r.route(stanzaPacket(m))
			} else if err := on.deliver(stanzaPacket(m)); err != nil {
				r.dropped(ReasonReplyUndeliverable, "to", comp.String(), "err", err)
			}
		}
	}
	if gr != nil && gr.presence {
		r.presencesTo(comp)
	}
	if len(dels) > 0 {
		r.askNesting(comp, dels)
	}
}

func (gr *grant) advertisement() stanza.Element {
	if gr == nil {
		return stanza.Element{}
	}
	return gr.adv
}

// presencesTo sends comp the current presence of every available resource
// of the router's accounts (what Prosody's mod_privilege sends a component
// with the presence permission when it connects).
func (r *Router) presencesTo(comp jid.JID) {
	var peers []peer
	r.mu.RLock()
	for _, acc := range r.users {
		for _, c := range acc.res {
			if c.available && c.last != nil {
				peers = append(peers, peer{full: c.full, last: c.last})
			}
		}
	}
	r.mu.RUnlock()
	for _, p := range peers {
		r.sendPresence(p.last, p.full, comp)
	}
}

// presenceToPrivileged sends the available or unavailable presence st of
// an account's resource full to every connected component with the
// presence permission (XEP-0356 §6.3).
func (r *Router) presenceToPrivileged(full jid.JID, st *stanza.Stanza) {
	if r.grants.byComp == nil {
		return
	}
	for d, gr := range r.grants.byComp {
		if gr.presence && r.isUp(d) {
			to, _ := domainJID(d)
			r.sendPresence(st, full, to)
		}
	}
}

// rosterToPrivileged pushes a roster change of user to every connected
// component with roster get or both (XEP-0356 v0.4 roster pushes): an iq
// set from the user's bare JID, answered by the component.
func (r *Router) rosterToPrivileged(user jid.JID, item RosterItem, _ bool) {
	for d, gr := range r.grants.byComp {
		if !gr.rosterGet || !r.isUp(d) {
			continue
		}
		to, _ := domainJID(d)
		b := stanza.NewBuilder(nsRoster, "query")
		appendItem(b, item)
		push := stanza.NewIQ(stanza.TypeSet, to, b.Element())
		push.ID = pushPrefix + push.ID
		push.From = user
		r.route(stanzaPacket(push))
	}
}

// privilegedMessage handles a message to a local domain that carries a
// <privilege/> (XEP-0356 §4.3): from a component with the message
// permission, the forwarded message, from a bare JID at that domain (or
// the domain), is routed as if its sender had sent it. It reports false
// for a message without <privilege/>.
func (r *Router) privilegedMessage(p *packet) (bool, error) {
	st, err := p.stanza()
	if st == nil {
		return false, err
	}
	el, ok := st.Child(nsPrivilege, "privilege")
	if !ok {
		el, ok = st.Child("urn:xmpp:privilege:1", "privilege")
	}
	if !ok {
		return false, nil
	}
	gr := r.privilegeOf(st.From)
	if gr == nil || !gr.message {
		return true, stanza.NewError(stanza.Forbidden, "no message privilege")
	}
	inner, err := forward.Unwrap(el.XML())
	if inner == nil || err != nil || inner.Kind != stanza.Message {
		return true, stanza.NewError(stanza.BadRequest, "the <privilege/> holds no message to forward")
	}
	if inner.From.IsZero() || inner.From.Resource() != "" || inner.From.Domain() != st.To.Domain() {
		return true, stanza.NewError(stanza.Forbidden, "a message on behalf must be from a bare JID of this server")
	}
	inner.NS = ""
	r.route(stanzaPacket(inner))
	return true, nil
}

// grantIQ serves the IQ get or set st (to a local domain, server, or to
// an account) when XEP-0356 or XEP-0355 takes it: a privileged roster
// access or privileged IQ from a component, or a request in a delegated
// namespace. It reports false for any other IQ.
func (r *Router) grantIQ(st *stanza.Stanza, server bool) (bool, error) {
	g := &r.grants
	if g.byComp == nil && g.deleg == nil {
		return false, nil
	}
	if !server {
		if gr := r.privilegeOf(st.From); gr != nil {
			if isRosterIQ(st) {
				return true, r.privilegedRoster(gr, st)
			}
			if space, local := st.PayloadName(); space == nsPrivilege && local == "privileged_iq" {
				return true, r.privilegedIQ(gr, st)
			}
		}
	}
	return r.delegate(st, server)
}

// privilegedRoster answers a roster get or set a component sends to an
// account's bare JID (XEP-0356 §3.3): with roster get the account's
// roster, with set the change applied as the account's own roster set
// (RFC 6121 §2.3, §2.5), with the subscription the component gives (as
// Prosody's mod_privilege does).
func (r *Router) privilegedRoster(gr *grant, st *stanza.Stanza) error {
	user := st.To.Bare()
	if st.To.IsZero() || st.To.Resource() != "" || !r.accountExists(user) {
		return stanza.ErrServiceUnavailable
	}
	switch st.Type {
	case stanza.TypeGet:
		if !gr.rosterGet {
			return stanza.NewError(stanza.Forbidden, "no roster get privilege")
		}
		b := stanza.NewBuilder(nsRoster, "query")
		for _, it := range r.rosterItems(user) {
			appendItem(b, it)
		}
		r.answer(st, b.Element())
		return nil
	default:
		if !gr.rosterSet {
			return stanza.NewError(stanza.Forbidden, "no roster set privilege")
		}
		return r.rosterSetAs(user, st, true)
	}
}

// privilegedIQ runs the iq that a component wraps in <privileged_iq/>
// (XEP-0356 v0.4) as the account it is addressed to, and answers the
// component with the result inside <privilege><forwarded/>.
func (r *Router) privilegedIQ(gr *grant, st *stanza.Stanza) error {
	user := st.To.Bare()
	if st.To.IsZero() || st.To.Resource() != "" || !r.accountExists(user) {
		return stanza.NewError(stanza.Forbidden, "the wrapping iq must be addressed to the bare JID of an account")
	}
	el, _ := st.PayloadElement()
	inner, err := forward.UnwrapDirect(el.XML())
	if inner == nil || err != nil || inner.Kind != stanza.IQ || inner.ID == "" {
		return stanza.NewError(stanza.BadRequest, "no valid iq in <privileged_iq/>")
	}
	ns, _ := inner.PayloadName()
	a := gr.iq[ns]
	if inner.Type != st.Type || !(st.Type == stanza.TypeGet && a[0] || st.Type == stanza.TypeSet && a[1]) {
		return stanza.NewError(stanza.Forbidden, "no privilege for iq "+st.Type+" "+ns)
	}
	if !inner.From.IsZero() && inner.From != user {
		return stanza.NewError(stanza.Forbidden, "the wrapped iq's from is not the account")
	}
	req, out := st.Clone(), inner.Clone()
	out.NS, out.From = "", user
	out.ID = privIQPrefix + stanza.NewID()
	target := out.To
	r.await(out.ID, func(from jid.JID) bool {
		if target.IsZero() {
			return from.IsZero() || from == user
		}
		return from == target
	}, func(ans *stanza.Stanza, err *stanza.Error) {
		if ans == nil {
			r.answerError(req, err)
			return
		}
		back := ans.Clone()
		back.ID, back.To = inner.ID, user
		r.answer(req, forward.Wrap(nsPrivilege, "privilege", back))
	})
	p := stanzaPacket(out)
	if target.IsZero() {
		// The account's own IQ, as if a client sent it without to (RFC
		// 6120 §10.3.3).
		if err := r.ownIQ(p, false); err != nil {
			r.bounce(p, err)
		}
	} else {
		r.route(p)
	}
	return nil
}

// answerError routes the error reply to st.
func (r *Router) answerError(st *stanza.Stanza, e *stanza.Error) {
	if reply := st.ErrorReply(e); reply != nil {
		if err := r.dispatch(stanzaPacket(reply)); err != nil {
			r.dropped(ReasonReplyUndeliverable, "to", reply.To.String(), "id", reply.ID, "err", err)
		}
	}
}

// await registers the IQ id the router sent: done runs once, with the
// answer from an address ok accepts, or with errNoAnswer after
// ForwardTimeout.
func (r *Router) await(id string, ok func(jid.JID) bool, done func(*stanza.Stanza, *stanza.Error)) {
	g := &r.grants
	w := &grantWait{from: ok, done: done}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return
	}
	if g.pending == nil {
		g.pending = map[string]*grantWait{}
	}
	g.pending[id] = w
	w.timer = time.AfterFunc(g.timeout, func() {
		g.mu.Lock()
		mine := g.pending[id] == w
		if mine {
			delete(g.pending, id)
		}
		g.mu.Unlock()
		if mine {
			done(nil, errNoAnswer)
		}
	})
}

// grantAnswer takes an IQ result or error that answers one the router sent
// for XEP-0356 or XEP-0355, and reports whether it did.
func (r *Router) grantAnswer(p *packet) bool {
	id := p.h.id
	if !strings.HasPrefix(id, "xk-") || !(strings.HasPrefix(id, privIQPrefix) || strings.HasPrefix(id, delegPrefix) ||
		strings.HasPrefix(id, discoPrefix) || strings.HasPrefix(id, barrierPrefix)) {
		return false
	}
	g := &r.grants
	g.mu.Lock()
	w := g.pending[id]
	if w == nil || !w.from(p.h.from) {
		g.mu.Unlock()
		return w != nil // a wrong sender: dropped, not answered
	}
	delete(g.pending, id)
	g.mu.Unlock()
	w.timer.Stop()
	st, _ := p.stanza()
	if st == nil {
		w.done(nil, stanza.NewError(stanza.UndefinedCondition, "undecodable answer"))
		return true
	}
	w.done(st, nil)
	return true
}
