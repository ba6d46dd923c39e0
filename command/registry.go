package command

import (
	"context"

	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/internal/randid"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Handler runs the stages of a command. Execute is called once per request
// of a session: first with Action Execute and Session.Stage 0, then with
// the action the requester chose (execute already resolved to the stage's
// default, §3.4; cancel never reaches it, see Canceler). A returned error
// is answered as is (a *stanza.Error, an *Error such as BadPayload, or any
// other error as internal-server-error) and leaves the session as it was,
// so the requester may try again; a Response moves it on.
type Handler interface {
	Execute(ctx context.Context, r *Request) (*Response, error)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, r *Request) (*Response, error)

// Execute calls f.
func (f HandlerFunc) Execute(ctx context.Context, r *Request) (*Response, error) { return f(ctx, r) }

// Canceler is implemented by a Handler that frees something when the
// requester cancels a session (§2.4.3). It is not called for a session that
// timed out.
type Canceler interface {
	Cancel(ctx context.Context, r *Request)
}

// Request is one request of a command session, as a Handler sees it.
type Request struct {
	From jid.JID // the requester, a full JID: sessions belong to it (§3.3)
	To   jid.JID // the address the command was sent to
	Node string
	// Action is Execute for the first stage, and for later stages what the
	// requester asked for: Next, Prev or Complete (never Cancel).
	Action Action
	// Form is the submitted data form, nil when none was sent; it passed
	// XEP-0004 validation. A form of type cancel counts as a submission
	// (§3.5.1).
	Form  *form.Form
	Extra []stanza.Element // other payload children of the <command/>
	// Lang is the session's language: the first the requester gave (on
	// the iq or the <command/>, §3.7), or the Registry's first language.
	Lang    string
	Session *Session
	Sender  mux.Sender     // to send other stanzas while answering
	IQ      *stanza.Stanza // the request as it arrived
}

// Session is a command session (§3.3): from the first request until the
// response that completes it, the requester's cancel, or its timeout.
type Session struct {
	ID      string
	Node    string
	Owner   jid.JID // the full JID the session belongs to
	Started time.Time
	// Stage counts the responses sent in this session before the current
	// request: 0 for the first request.
	Stage int
	// Data is the handler's own state, kept between the stages.
	Data any

	mu         sync.Mutex  // held while a request of the session is served
	done       atomic.Bool // set under the Registry's lock, read under mu
	lang       string
	expires    time.Time
	actions    []Action
	def        Action
	hasActions bool
}

// allows reports whether the last response permits the action (§3.4).
func (s *Session) allows(a Action) bool {
	if !s.hasActions {
		return a == ActionComplete // a single-stage dialog: execute is complete
	}
	return contains(s.actions, a)
}

// resolve returns what execute stands for at this stage (§3.4).
func (s *Session) resolve() (Action, bool) {
	switch {
	case !s.hasActions:
		return ActionComplete, true
	case s.def != "":
		return s.def, true
	case contains(s.actions, ActionNext):
		return ActionNext, true
	}
	return "", false
}

// Response is what a Handler answers a request with: the next stage
// (Status Executing, usually with a form to fill and the allowed Actions)
// or the end (Completed, with notes or a result form).
type Response struct {
	Status Status // "" is Completed
	// Form is a form to fill (type form) for an executing stage, or a
	// result (type result) for a completed one.
	Form  *form.Form
	Notes []Note
	Extra []stanza.Element // other payload, after the form (§3.5)
	// Actions are the actions allowed at an executing stage besides
	// execute and cancel (§4.2): Prev, Next, Complete. Without any, the
	// requester shows a single-stage dialog whose execute completes
	// (§3.4). Default is the action execute stands for; "" picks Next when
	// allowed, else Complete.
	Actions []Action
	Default Action
}

// Done returns a response completing the session, with notes (§2.4.1). A
// command that completed but failed includes an ErrorNote (§3.6).
func Done(notes ...Note) *Response { return &Response{Status: Completed, Notes: notes} }

// Result returns a response completing the session with a result form
// (type result, §2.4.1) and notes.
func Result(f *form.Form, notes ...Note) *Response {
	return &Response{Status: Completed, Form: f, Notes: notes}
}

// Ask returns an executing response with a form to fill and the actions
// allowed next (§2.4.2); with no actions, the form is a single-stage dialog
// that execute completes.
func Ask(f *form.Form, actions ...Action) *Response {
	return &Response{Status: Executing, Form: f, Actions: actions}
}

// Command is a command in a Registry.
type Command struct {
	Node    string // unique in the Registry (§3.2)
	Name    string // the label shown in command lists (§2.2)
	Handler Handler
	// Allow reports whether the command exists for the requester from at
	// the address to: it is listed, described and executable only then
	// (§2.2; others get forbidden). nil means: at the service's own
	// address (a JID without localpart) and for everyone. from is the zero
	// JID when the requester is not known (a capabilities hash computed
	// ahead, disco.Query): Allow then says whether everybody may see it.
	Allow func(from, to jid.JID) bool
}

func (c *Command) allowed(from, to jid.JID) bool {
	if c.Allow == nil {
		return to.Local() == ""
	}
	return c.Allow(from, to)
}

// Defaults of a Registry's limits.
const (
	DefaultSessionTimeout       = 10 * time.Minute
	DefaultMaxSessions          = 1000
	DefaultMaxSessionsPerEntity = 8
)

// Registry is a set of ad-hoc commands mounted on a handler tree: it
// executes them (XEP-0050 §2.4), keeps their sessions (§3.3), and lists and
// describes them through service discovery (§2.2) by implementing the disco
// provider interfaces. Its zero value is ready to use with the default
// limits; set the fields before serving. It is safe for concurrent use.
type Registry struct {
	// SessionTimeout ends a session that sees no request for this long:
	// its id then gets session-expired. Zero means DefaultSessionTimeout.
	SessionTimeout time.Duration
	// MaxSessions bounds the live sessions; a new one beyond it gets
	// resource-constraint. Zero means DefaultMaxSessions.
	MaxSessions int
	// MaxSessionsPerEntity bounds the live sessions of one bare JID: a new
	// one beyond it ends that entity's oldest session. Zero means
	// DefaultMaxSessionsPerEntity.
	MaxSessionsPerEntity int
	// Languages, when set, are the languages (RFC 5646 tags) the commands
	// answer in, preferred first: a session asked for in another gets
	// bad-locale (§3.7). Empty accepts any.
	Languages []string
	// Now returns the current time (for tests); nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	cmds      map[string]*Command
	order     []string // nodes in registration order
	sessions  map[string]*Session
	perEntity map[string]int
	ended     map[string]time.Time // recently ended session ids, until when they count as expired
	endedFIFO []string
	lastSweep time.Time
}

// Add registers a command. It panics on an empty node, a nil handler or a
// node already registered, like mux.ServeMux does for routes.
func (r *Registry) Add(c Command) {
	if c.Node == "" {
		panic("command: Add with an empty node")
	}
	if c.Handler == nil {
		panic("command: Add with a nil handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if _, dup := r.cmds[c.Node]; dup {
		panic("command: duplicate node " + c.Node)
	}
	r.cmds[c.Node] = &c
	r.order = append(r.order, c.Node)
}

// HandleFunc registers a command for everyone at the service's address,
// run by f.
func (r *Registry) HandleFunc(node, name string, f func(ctx context.Context, r *Request) (*Response, error)) {
	r.Add(Command{Node: node, Name: name, Handler: HandlerFunc(f)})
}

// Remove unregisters the command at node and ends its live sessions
// (their ids get session-expired). It reports whether there was one.
func (r *Registry) Remove(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cmds[node]; !ok {
		return false
	}
	delete(r.cmds, node)
	r.order = slices.DeleteFunc(r.order, func(n string) bool { return n == node })
	for _, s := range r.sessions {
		if s.Node == node {
			r.endLocked(s, r.now())
		}
	}
	return true
}

// Register mounts r on m for command requests (iq set of <command/>).
func (r *Registry) Register(m *mux.ServeMux) {
	m.HandleIQ(stanza.TypeSet, NS, "command", r)
}

// Sessions returns the number of live sessions.
func (r *Registry) Sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(r.now(), true)
	return len(r.sessions)
}

func (r *Registry) init() {
	if r.cmds == nil {
		r.cmds = make(map[string]*Command)
		r.sessions = make(map[string]*Session)
		r.perEntity = make(map[string]int)
		r.ended = make(map[string]time.Time)
	}
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registry) timeout() time.Duration {
	if r.SessionTimeout > 0 {
		return r.SessionTimeout
	}
	return DefaultSessionTimeout
}

func (r *Registry) maxSessions() int {
	if r.MaxSessions > 0 {
		return r.MaxSessions
	}
	return DefaultMaxSessions
}

func (r *Registry) maxPerEntity() int {
	if r.MaxSessionsPerEntity > 0 {
		return r.MaxSessionsPerEntity
	}
	return DefaultMaxSessionsPerEntity
}

// endLocked ends a live session: its id is remembered as expired for a
// while (session-expired rather than bad-sessionid, §4.4).
func (r *Registry) endLocked(s *Session, now time.Time) {
	if !r.dropLocked(s) {
		return
	}
	r.ended[s.ID] = now.Add(r.timeout())
	r.endedFIFO = append(r.endedFIFO, s.ID)
	// Remember at most a few times the live bound.
	for len(r.endedFIFO) > 4*r.maxSessions() {
		delete(r.ended, r.endedFIFO[0])
		r.endedFIFO = r.endedFIFO[1:]
	}
}

// sweepLocked ends timed-out sessions and forgets old ended ids, at most
// once a second unless forced.
func (r *Registry) sweepLocked(now time.Time, force bool) {
	if !force && now.Sub(r.lastSweep) < time.Second {
		return
	}
	r.lastSweep = now
	for _, s := range r.sessions {
		if now.After(s.expires) {
			r.endLocked(s, now)
		}
	}
	for len(r.endedFIFO) > 0 {
		id := r.endedFIFO[0]
		if until, ok := r.ended[id]; ok && now.Before(until) {
			break
		}
		delete(r.ended, id)
		r.endedFIFO = r.endedFIFO[1:]
	}
}

// HandleStanza serves a command request (XEP-0050 §2.4): it checks the
// node, the requester, the session and the action, runs the command's
// Handler, and answers with the <command/> of the next stage or an error
// of §4.4.
func (r *Registry) HandleStanza(ctx context.Context, snd mux.Sender, iq *stanza.Stanza) error {
	if iq.Kind != stanza.IQ || iq.Type != stanza.TypeSet {
		return badRequest("commands are executed with iq set")
	}
	el, ok := iq.PayloadElement()
	if !ok || el.Space != NS || el.Local != "command" {
		return badRequest("no <command/> payload")
	}
	p, err := Parse(el.XML())
	if err != nil {
		return err
	}
	if p.Node == "" {
		return badRequest("<command/> without node")
	}
	now := r.now()
	r.mu.Lock()
	r.init()
	r.sweepLocked(now, false)
	c := r.cmds[p.Node]
	r.mu.Unlock()
	if c == nil {
		return stanza.NewError(stanza.ItemNotFound, "command: no command at node "+p.Node)
	}
	if !c.allowed(iq.From, iq.To) {
		return stanza.NewError(stanza.Forbidden, "")
	}
	lang := iq.Lang
	if p.Lang != "" {
		lang = p.Lang
	}
	if p.SessionID == "" {
		return r.start(ctx, snd, iq, c, p, lang, now)
	}
	return r.resume(ctx, snd, iq, c, p, now)
}

// start serves the first request of a session.
func (r *Registry) start(ctx context.Context, snd mux.Sender, iq *stanza.Stanza, c *Command, p *Payload, lang string, now time.Time) error {
	if p.Action != "" && p.Action != ActionExecute {
		return ErrBadAction.with("no session to " + string(p.Action) + ": start the command with execute")
	}
	lang, err := r.pickLang(lang)
	if err != nil {
		return err
	}
	s := &Session{ID: randid.New(16), Node: c.Node, Owner: iq.From, Started: now, lang: lang, expires: now.Add(r.timeout())}
	r.mu.Lock()
	if err := r.admitLocked(s, now); err != nil {
		r.mu.Unlock()
		return err
	}
	r.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, err := r.run(ctx, snd, iq, c, s, p, ActionExecute)
	if err != nil {
		r.mu.Lock()
		r.dropLocked(s)
		r.mu.Unlock()
		return err
	}
	return r.answer(ctx, snd, iq, s, resp)
}

// admitLocked adds a new session within the limits.
func (r *Registry) admitLocked(s *Session, now time.Time) error {
	owner := s.Owner.Bare().String()
	if r.perEntity[owner] >= r.maxPerEntity() {
		var oldest *Session
		for _, o := range r.sessions {
			if o.Owner.Bare().String() == owner && (oldest == nil || o.Started.Before(oldest.Started)) {
				oldest = o
			}
		}
		if oldest != nil {
			r.endLocked(oldest, now)
		}
	}
	if len(r.sessions) >= r.maxSessions() {
		r.sweepLocked(now, true)
		if len(r.sessions) >= r.maxSessions() {
			return stanza.NewError(stanza.ResourceConstraint, "command: too many command sessions; try again later")
		}
	}
	r.sessions[s.ID] = s
	r.perEntity[owner]++
	return nil
}

// dropLocked forgets a live session (without remembering its id: for one
// never given to its requester) and reports whether it was live.
func (r *Registry) dropLocked(s *Session) bool {
	if _, ok := r.sessions[s.ID]; !ok {
		return false
	}
	delete(r.sessions, s.ID)
	owner := s.Owner.Bare().String()
	if r.perEntity[owner]--; r.perEntity[owner] <= 0 {
		delete(r.perEntity, owner)
	}
	s.done.Store(true)
	return true
}

// resume serves a request of a live session.
func (r *Registry) resume(ctx context.Context, snd mux.Sender, iq *stanza.Stanza, c *Command, p *Payload, now time.Time) error {
	r.mu.Lock()
	s := r.sessions[p.SessionID]
	if s == nil {
		_, gone := r.ended[p.SessionID]
		r.mu.Unlock()
		if gone {
			return ErrSessionExpired
		}
		return ErrBadSessionID
	}
	if !s.Owner.Equal(iq.From) || s.Node != p.Node {
		// Another requester's session, or another command's: as if
		// unknown (§3.3: a session is valid between one pair only).
		r.mu.Unlock()
		return ErrBadSessionID
	}
	if now.After(s.expires) {
		r.endLocked(s, now)
		r.mu.Unlock()
		return ErrSessionExpired
	}
	r.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done.Load() {
		return ErrSessionExpired
	}
	action := p.Action
	switch action {
	case ActionCancel:
		r.mu.Lock()
		r.endLocked(s, now)
		r.mu.Unlock()
		if cc, ok := c.Handler.(Canceler); ok {
			cc.Cancel(ctx, r.request(snd, iq, c, s, p, ActionCancel))
		}
		return r.answer(ctx, snd, iq, s, &Response{Status: Canceled})
	case "", ActionExecute:
		a, ok := s.resolve()
		if !ok {
			return ErrBadAction.with("execute has no meaning at this stage")
		}
		action = a
	default:
		if !s.allows(action) {
			return ErrBadAction.with(string(action) + " is not allowed at this stage")
		}
	}
	resp, err := r.run(ctx, snd, iq, c, s, p, action)
	if err != nil {
		r.mu.Lock()
		s.expires = now.Add(r.timeout())
		r.mu.Unlock()
		return err
	}
	return r.answer(ctx, snd, iq, s, resp)
}

func (r *Registry) request(snd mux.Sender, iq *stanza.Stanza, c *Command, s *Session, p *Payload, a Action) *Request {
	return &Request{From: iq.From, To: iq.To, Node: c.Node, Action: a, Form: p.Form, Extra: p.Extra,
		Lang: s.lang, Session: s, Sender: snd, IQ: iq}
}

// run calls the command's handler; s.mu is held.
func (r *Registry) run(ctx context.Context, snd mux.Sender, iq *stanza.Stanza, c *Command, s *Session, p *Payload, a Action) (*Response, error) {
	resp, err := c.Handler.Execute(ctx, r.request(snd, iq, c, s, p, a))
	if err != nil {
		return nil, err
	}
	if resp == nil {
		resp = Done()
	}
	if err := resp.check(); err != nil {
		return nil, err
	}
	return resp, nil
}

func (resp *Response) check() error {
	switch resp.Status {
	case "", Completed, Executing, Canceled:
	default:
		return fmt.Errorf("command: response status %q is none of executing, completed, canceled", resp.Status)
	}
	for _, a := range resp.Actions {
		if a != ActionPrev && a != ActionNext && a != ActionComplete {
			return fmt.Errorf("command: response action %q: only prev, next and complete are listed (§4.2)", a)
		}
	}
	if resp.Default != "" && !contains(resp.Actions, resp.Default) {
		return fmt.Errorf("command: default action %q is not among the allowed actions %v", resp.Default, resp.Actions)
	}
	return nil
}

// answer moves the session on by resp and sends the <command/>; s.mu is
// held.
func (r *Registry) answer(ctx context.Context, snd mux.Sender, iq *stanza.Stanza, s *Session, resp *Response) error {
	status := resp.Status
	if status == "" {
		status = Completed
	}
	out := &Payload{Node: s.Node, SessionID: s.ID, Status: status, Lang: s.lang, Notes: resp.Notes, Form: resp.Form, Extra: resp.Extra}
	now := r.now()
	r.mu.Lock()
	if status == Executing {
		s.Stage++
		s.actions = slices.Clone(resp.Actions)
		s.hasActions = len(resp.Actions) > 0
		s.def = resp.Default
		if s.def == "" && s.hasActions {
			switch {
			case contains(s.actions, ActionNext):
				s.def = ActionNext
			case contains(s.actions, ActionComplete):
				s.def = ActionComplete
			}
		}
		s.expires = now.Add(r.timeout())
		out.Actions, out.Default, out.HasActions = s.actions, s.def, s.hasActions
	} else {
		r.endLocked(s, now)
	}
	r.mu.Unlock()
	el, err := out.Element()
	if err != nil {
		return err
	}
	res := iq.Result(el)
	res.Lang = iq.Lang
	return snd.Send(ctx, res)
}

// pickLang returns the session language for the requested one (§3.7).
func (r *Registry) pickLang(lang string) (string, error) {
	if len(r.Languages) == 0 {
		return lang, nil
	}
	if lang == "" {
		return r.Languages[0], nil
	}
	for _, l := range r.Languages {
		if langMatch(l, lang) {
			return lang, nil
		}
	}
	return "", ErrBadLocale.with("no commands in " + lang)
}

// langMatch reports whether the requested tag is served by a supported
// one: equal, or the supported tag is a prefix ("en" serves "en-US"), case
// folded (RFC 4647 §3.3.1 basic filtering, the other way round).
func langMatch(supported, requested string) bool {
	s, q := strings.ToLower(supported), strings.ToLower(requested)
	return s == q || strings.HasPrefix(q, s+"-") || strings.HasPrefix(s, q+"-")
}

// visible returns the commands that exist for from at to, in registration
// order.
func (r *Registry) visible(from, to jid.JID) []*Command {
	r.mu.Lock()
	cmds := make([]*Command, 0, len(r.order))
	for _, n := range r.order {
		cmds = append(cmds, r.cmds[n])
	}
	r.mu.Unlock()
	return slices.DeleteFunc(cmds, func(c *Command) bool { return !c.allowed(from, to) })
}

func (r *Registry) lookup(from, to jid.JID, node string) *Command {
	r.mu.Lock()
	c := r.cmds[node]
	r.mu.Unlock()
	if c == nil || !c.allowed(from, to) {
		return nil
	}
	return c
}

// List returns the command list for the requester from at the address to
// (§2.2): a disco item per command that exists for it, at to.
func (r *Registry) List(from, to jid.JID) []disco.Item {
	var out []disco.Item
	for _, c := range r.visible(from, to) {
		out = append(out, disco.Item{JID: to, Node: c.Node, Name: c.Name})
	}
	return out
}

// Announce returns the message that pushes the command list to a
// requester (§2.3): a disco#items <query/> for the commands node, with the
// commands that exist for to at the address from.
func (r *Registry) Announce(from, to jid.JID) *stanza.Stanza {
	b := stanza.NewBuilder(disco.NSItems, "query").Attr("node", NS)
	for _, it := range r.List(to, from) {
		b.Child("", "item").Attr("jid", it.JID.String()).Attr("node", it.Node).OptAttr("name", it.Name).End()
	}
	m := stanza.NewMessage("", to, "")
	m.From = from
	m.SetPayloadElements(b.Element())
	return m
}

// Features implements disco.FeatureProvider: the commands feature at every
// address with a command for the requester (§2.1), the commands and data
// forms features at a command's node (§2.2).
func (r *Registry) Features(q disco.Query) []string {
	switch {
	case q.Node == "":
		if q.To.Local() == "" || len(r.visible(q.From, q.To)) > 0 {
			return []string{NS}
		}
	case q.Node != NS:
		if r.lookup(q.From, q.To, q.Node) != nil {
			return []string{NS, form.NS}
		}
	}
	return nil
}

// Identities implements disco.IdentityProvider: automation/command-list at
// the commands node, automation/command-node at the node of each command
// that exists for the requester (§2.2, §7.2).
func (r *Registry) Identities(q disco.Query) []disco.Identity {
	switch {
	case q.Node == NS:
		if q.To.Local() == "" || len(r.visible(q.From, q.To)) > 0 {
			return []disco.Identity{{Category: "automation", Type: "command-list", Name: "Commands"}}
		}
	case q.Node != "":
		if c := r.lookup(q.From, q.To, q.Node); c != nil {
			return []disco.Identity{{Category: "automation", Type: "command-node", Name: c.Name}}
		}
	}
	return nil
}

// Items implements disco.ItemProvider: at the commands node, the commands
// that exist for the requester (§2.2).
func (r *Registry) Items(q disco.Query) []disco.Item {
	if q.Node != NS {
		return nil
	}
	return r.List(q.From, q.To)
}

var (
	_ mux.Handler            = (*Registry)(nil)
	_ disco.FeatureProvider  = (*Registry)(nil)
	_ disco.IdentityProvider = (*Registry)(nil)
	_ disco.ItemProvider     = (*Registry)(nil)
)
