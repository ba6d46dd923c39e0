package pubsub

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Options configures a Service.
type Options struct {
	// Store persists the nodes, items, subscriptions and affiliations;
	// nil keeps them in memory only (MemoryStore).
	Store Store
	// Logger receives errors of the store and of sending; nil means
	// slog.Default().
	Logger *slog.Logger
	// Queue is the number of answers and notification batches waiting to
	// be sent (default 4096); a full queue makes requests wait.
	Queue int
	// MayCreate says whether an entity may create nodes (XEP-0060
	// §8.1.3.1: forbidden otherwise); nil lets everyone.
	MayCreate func(from jid.JID) bool
	// Bounds on the whole service's state, which it keeps in memory (and
	// its store on disk): a request that would exceed one gets
	// resource-constraint (RFC 6120 §8.3.3.18). Zero means the default;
	// per-user quotas are another matter. MaxNodes: nodes (default
	// DefaultMaxNodes); MaxItemBytes: bytes of all stored items, payloads
	// and ids (default DefaultMaxItemBytes); MaxSubscriptions:
	// subscriptions over all nodes (default DefaultMaxSubscriptions).
	MaxNodes         int
	MaxItemBytes     int64
	MaxSubscriptions int
}

// Defaults of the Options bounds: with them the service's state stays
// within about 100 MB of live memory whatever its users do (items dominate:
// 64 MiB; a subscription costs about 300 bytes, a node about 1 KB; Go's
// collector lets the heap reach about twice the live data), and its journal
// within about twice the live state on disk, 64 MiB at least (see
// FileStore.WantCompact).
const (
	DefaultMaxNodes         = 10000
	DefaultMaxItemBytes     = 64 << 20
	DefaultMaxSubscriptions = 100000
)

// MaxResultBytes bounds the payload bytes of one items answer (XEP-0060
// §6.5): when all requested items would not fit, the newest ones that fit are
// returned (at least one), so that the answer stays below the stanza size
// that servers pass on a component link (512 KiB for Prosody).
const MaxResultBytes = 384 << 10

// MaxPayloadBytes bounds one item's payload; a larger publish gets
// not-acceptable with <payload-too-big/> (XEP-0060 §7.1.3.4). With
// MaxIDBytes it keeps every stanza that carries an item (the items answer,
// the notification) within the 512 KiB stanza limit of servers and of
// xmppkit's router, whoever asks: an item that could be stored but never
// fetched would be acknowledged and lost.
const MaxPayloadBytes = 448 << 10

// MaxIDBytes bounds node and item ids (a longer one is not-acceptable).
const MaxIDBytes = 1 << 10

// compactCheckEvery is how many appends pass between two asks whether the
// store wants compaction.
var compactCheckEvery = 1024

// ErrClosed is returned by Close when called twice.
var ErrClosed = errors.New("pubsub: service closed")

// Service is a XEP-0060 publish-subscribe service. It is a mux.Handler for
// iq stanzas in the pubsub and pubsub#owner namespaces, and a disco provider
// (disco.FeatureProvider, IdentityProvider, ItemProvider, FormProvider).
// Mount it with Register next to other services and one disco.Handler, or
// serve Handler for the service alone.
//
// All state changes are serialized by one lock, written to the Store, and
// answered, together with their notifications, by one sending goroutine in
// the order they happened, once the Store has made them durable. A request's
// HandleStanza returns when its answer has been sent, so concurrent requests
// share one fsync (group commit) while each caller sees a finished request.
type Service struct {
	store     Store
	log       *slog.Logger
	mayCreate func(jid.JID) bool

	maxNodes     int
	maxItemBytes int64
	maxSubs      int

	mu          sync.Mutex
	st          *state
	closed      bool
	appends     int
	appendBytes int // payload bytes appended since the last compaction check

	out  chan *outbound
	done chan struct{}
}

// outbound is what one request sends: its answer and its notifications,
// once wait says the change is durable.
type outbound struct {
	wait   func() error
	sender mux.Sender
	reply  *stanza.Stanza
	onFail *stanza.Stanza
	notes  []*stanza.Stanza
	done   chan struct{} // closed once sent
}

// New loads the store's state and starts the service's sending goroutine;
// Close stops it.
func New(opts Options) (*Service, error) {
	s := &Service{store: opts.Store, log: opts.Logger, mayCreate: opts.MayCreate, st: newState(), done: make(chan struct{}),
		maxNodes: opts.MaxNodes, maxItemBytes: opts.MaxItemBytes, maxSubs: opts.MaxSubscriptions}
	if s.maxNodes <= 0 {
		s.maxNodes = DefaultMaxNodes
	}
	if s.maxItemBytes <= 0 {
		s.maxItemBytes = DefaultMaxItemBytes
	}
	if s.maxSubs <= 0 {
		s.maxSubs = DefaultMaxSubscriptions
	}
	if s.store == nil {
		s.store = MemoryStore{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	q := opts.Queue
	if q <= 0 {
		q = 4096
	}
	if err := s.store.Load(s.loadOp); err != nil {
		return nil, err
	}
	if c, ok := s.store.(Compacter); ok && c.WantCompact(s.st.size()) {
		// A store that skipped bad ops at Load, or a long log: start clean.
		if err := c.Compact(s.st.snapshot); err != nil {
			s.log.Error("pubsub: compaction failed", "err", err)
		}
	}
	s.out = make(chan *outbound, q)
	go s.dispatch()
	return s, nil
}

// loadOp applies a stored op after checking what requests check before
// storing one: an item's payload is nothing or one well-formed namespaced
// element (payloadOf), so that a damaged store cannot make a later answer
// fail to build.
func (s *Service) loadOp(op *Op) error {
	if op.Kind == OpPublish && op.Payload != "" && !validPayload(op.Payload) {
		return errors.New("item payload is not one well-formed namespaced element")
	}
	return s.st.apply(op)
}

// Register mounts the service on m for XEP-0060 requests. It mounts no
// disco handler: the service advertises its identities, features, items and
// forms through the disco provider interfaces, so that one disco.Handler on
// m answers for it and for every other service there (mount that once,
// disco.New(m).Register(m)).
func (s *Service) Register(m *mux.ServeMux) {
	m.HandleIQ("", NS, "pubsub", s)
	m.HandleIQ("", NSOwner, "pubsub", s)
}

// Handler returns a new ServeMux serving the service alone: the service
// registered, and a disco handler (XEP-0030) answering from it.
func (s *Service) Handler() *mux.ServeMux {
	m := mux.New(mux.WithLogger(s.log))
	s.Register(m)
	disco.New(m).Register(m)
	return m
}

// Close stops taking requests, sends what is queued, and closes the store.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.out)
	s.mu.Unlock()
	<-s.done
	return s.store.Close()
}

func (s *Service) dispatch() {
	defer close(s.done)
	ctx := context.Background()
	for ob := range s.out {
		if err := ob.wait(); err != nil {
			s.log.Error("pubsub: store failed; change not acknowledged", "err", err)
			if ob.onFail != nil {
				s.send(ctx, ob.sender, ob.onFail)
			}
			close(ob.done)
			continue
		}
		if ob.reply != nil {
			s.send(ctx, ob.sender, ob.reply)
		}
		for _, n := range ob.notes {
			s.send(ctx, ob.sender, n)
		}
		close(ob.done)
	}
}

func (s *Service) send(ctx context.Context, snd mux.Sender, st *stanza.Stanza) {
	if err := snd.Send(ctx, st); err != nil {
		s.log.Warn("pubsub: send failed", "to", st.To.String(), "id", st.ID, "err", err)
	}
}

// reqCtx is one request being handled under the lock.
type reqCtx struct {
	iq     *stanza.Stanza
	sender mux.Sender
	from   jid.JID
	bare   string
	svc    jid.JID
	ops    []*Op
	notes  []*stanza.Stanza
}

// HandleStanza answers an iq in the pubsub or pubsub#owner namespace
// (XEP-0060 §6-§8). Refusals are returned as *stanza.Error with the XEP's
// condition and pubsub#errors element; a success is answered (and notified)
// before it returns.
func (s *Service) HandleStanza(ctx context.Context, snd mux.Sender, iq *stanza.Stanza) error {
	el, ok := iq.PayloadElement()
	if !ok {
		return badRequest("no payload", "")
	}
	req, err := parseRequest([]byte(el.XML()))
	if err != nil {
		return err
	}
	rc := &reqCtx{iq: iq, sender: snd, from: iq.From, bare: iq.From.Bare().String(), svc: iq.To.DomainJID()}
	ob, err := s.handle(rc, el.Space == NSOwner, req)
	if err != nil {
		return err
	}
	// Return once the answer is sent, so that whoever serves the handler
	// (a component's Close, a router's) knows the request is complete.
	select {
	case <-ob.done:
	case <-ctx.Done():
	}
	return nil
}

func (s *Service) handle(rc *reqCtx, owner bool, req *request) (*outbound, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "shutting down")
	}
	reply, err := s.route(rc, owner, req)
	if err != nil {
		return nil, err
	}
	return s.commit(rc, reply)
}

func (s *Service) route(rc *reqCtx, owner bool, req *request) (*stanza.Stanza, error) {
	act, get := req.action(), rc.iq.Type == stanza.TypeGet
	type key struct {
		owner, get bool
		act        string
	}
	switch (key{owner, get, act}) {
	case key{false, false, "create"}:
		return s.create(rc, req)
	case key{false, false, "publish"}:
		return s.publish(rc, req)
	case key{false, false, "retract"}:
		return s.retract(rc, req)
	case key{false, false, "subscribe"}:
		return s.subscribe(rc, req)
	case key{false, false, "unsubscribe"}:
		return s.unsubscribe(rc, req)
	case key{false, true, "items"}:
		return s.items(rc, req)
	case key{false, true, "subscriptions"}:
		return s.ownSubscriptions(rc, req)
	case key{false, true, "affiliations"}:
		return s.ownAffiliations(rc, req)
	case key{false, true, "options"}:
		return s.optionsGet(rc, req)
	case key{false, false, "options"}:
		return s.optionsSet(rc, req)
	case key{false, true, "default"}:
		return rc.result(NS, "<default>"+formXML(subscribeOptionsForm(true))+"</default>"), nil
	case key{true, true, "configure"}:
		return s.configureGet(rc, req)
	case key{true, false, "configure"}:
		return s.configureSet(rc, req)
	case key{true, true, "default"}:
		f := DefaultConfig().Form(form.TypeForm)
		return rc.result(NSOwner, "<default>"+formXML(f)+"</default>"), nil
	case key{true, false, "delete"}:
		return s.deleteNode(rc, req)
	case key{true, false, "purge"}:
		return s.purge(rc, req)
	case key{true, true, "subscriptions"}:
		return s.manageSubscriptionsGet(rc, req)
	case key{true, false, "subscriptions"}:
		return s.manageSubscriptionsSet(rc, req)
	case key{true, true, "affiliations"}:
		return s.manageAffiliationsGet(rc, req)
	case key{true, false, "affiliations"}:
		return s.manageAffiliationsSet(rc, req)
	}
	switch act {
	case "":
		return nil, badRequest("empty pubsub request", "")
	case "create", "publish", "retract", "subscribe", "unsubscribe", "items", "subscriptions",
		"affiliations", "configure", "delete", "purge", "options", "default":
		return nil, badRequest(fmt.Sprintf("%s is not a %s request", act, rc.iq.Type), "")
	}
	return nil, unsupported(act)
}

// commit applies the request's ops, hands them to the store and queues the
// reply and notifications behind the store's acknowledgement.
func (s *Service) commit(rc *reqCtx, reply *stanza.Stanza) (*outbound, error) {
	wait := noWait
	for _, op := range rc.ops {
		if err := s.st.apply(op); err != nil {
			s.log.Error("pubsub: apply", "err", err)
			return nil, stanza.NewError(stanza.InternalServerError, "")
		}
		w, err := s.store.Append(op)
		if err != nil {
			s.log.Error("pubsub: store append", "err", err)
			return nil, stanza.NewError(stanza.InternalServerError, "storage failed")
		}
		wait = w
		s.appends++
		s.appendBytes += len(op.Payload)
	}
	// Ask every compactCheckEvery ops or 16 MiB of payloads, whichever
	// comes first: large items must not grow the log far between asks.
	if len(rc.ops) > 0 && (s.appends >= compactCheckEvery || s.appendBytes >= 16<<20) {
		s.appends, s.appendBytes = 0, 0
		if c, ok := s.store.(Compacter); ok && c.WantCompact(s.st.size()) {
			if err := c.Compact(s.st.snapshot); err != nil {
				s.log.Error("pubsub: compaction failed", "err", err)
			}
		}
	}
	ob := &outbound{
		wait:   wait,
		sender: rc.sender,
		reply:  reply,
		onFail: rc.iq.ErrorReply(stanza.NewError(stanza.InternalServerError, "storage failed")),
		notes:  rc.notes,
		done:   make(chan struct{}),
	}
	s.out <- ob
	return ob, nil
}

func (rc *reqCtx) result(ns, inner string) *stanza.Stanza {
	r := rc.iq.Reply()
	if inner != "" {
		// Built from escaped parts: cannot fail.
		if err := r.SetPayload("<pubsub xmlns='" + ns + "'>" + inner + "</pubsub>"); err != nil {
			panic(err)
		}
	}
	return r
}

func (rc *reqCtx) add(op *Op) { rc.ops = append(rc.ops, op) }

func (s *Service) node(p *string) (*node, error) {
	id, ok := nodeOf(p)
	if !ok {
		return nil, nodeIDRequired()
	}
	n := s.st.nodes[id]
	if n == nil {
		return nil, itemNotFound("no such node")
	}
	return n, nil
}

func (s *Service) ownerNode(rc *reqCtx, p *string) (*node, error) {
	n, err := s.node(p)
	if err != nil {
		return nil, err
	}
	if n.aff(rc.bare) != AffOwner {
		return nil, forbidden("only an owner may do this")
	}
	return n, nil
}

func (s *Service) create(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	if s.mayCreate != nil && !s.mayCreate(rc.from) {
		return nil, forbidden("not allowed to create nodes")
	}
	id, named := nodeOf(req.Create.Node)
	if !named {
		id = stanza.NewID() // instant node (XEP-0060 §8.1.2)
	}
	if len(id) > MaxIDBytes {
		return nil, stanza.NewError(stanza.NotAcceptable, "node id too long")
	}
	if len(s.st.nodes) >= s.maxNodes {
		return nil, stanza.NewError(stanza.ResourceConstraint, "the service holds as many nodes as it can")
	}
	if s.st.nodes[id] != nil {
		return nil, stanza.NewError(stanza.Conflict, "node exists")
	}
	cfg := DefaultConfig()
	if req.Configure != nil && req.Configure.Form != nil && req.Configure.Form.Type != form.TypeCancel {
		var err error
		if cfg, err = cfg.Merge(req.Configure.Form); err != nil {
			return nil, err
		}
	}
	rc.add(&Op{Kind: OpCreate, Node: id, Config: &cfg, JID: rc.bare, Time: now()})
	return rc.result(NS, "<create node='"+attr(id)+"'/>"), nil
}

func (s *Service) publish(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Publish.Node)
	if err != nil {
		return nil, err
	}
	if !s.mayPublish(n, rc.bare) {
		return nil, forbidden("not allowed to publish to this node")
	}
	switch len(req.Publish.Item) {
	case 0:
		if n.cfg.PersistItems || n.cfg.DeliverPayloads {
			return nil, badRequest("an item is required", "item-required")
		}
	case 1:
	default:
		return nil, badRequest("one item per publish request", "invalid-payload")
	}
	var id, payload string
	if len(req.Publish.Item) == 1 {
		it := &req.Publish.Item[0]
		if payload, err = payloadOf(it); err != nil {
			return nil, err
		}
		if it.ID != nil && *it.ID != "" {
			id = *it.ID
		}
		switch {
		case len(payload) > MaxPayloadBytes:
			return nil, appErr(stanza.NotAcceptable, "payload-too-big", "", "")
		case len(id) > MaxIDBytes:
			return nil, stanza.NewError(stanza.NotAcceptable, "item id too long")
		}
	}
	if n.cfg.PersistItems {
		grow := int64(len(payload) + len(id))
		if _, old := n.item(id); old != nil {
			grow -= int64(len(old.payload) + len(old.id))
		}
		if grow > 0 && s.st.itemBytes+grow > s.maxItemBytes {
			return nil, stanza.NewError(stanza.ResourceConstraint, "the service holds as many items as it can")
		}
	}
	switch {
	case payload == "" && (n.cfg.PersistItems || n.cfg.DeliverPayloads):
		return nil, badRequest("a payload is required", "payload-required")
	case payload != "" && !n.cfg.PersistItems && !n.cfg.DeliverPayloads:
		return nil, badRequest("this node takes no payloads", "item-forbidden")
	}
	if req.PublishOptions != nil && req.PublishOptions.Form != nil {
		if err := n.cfg.CheckPublishOptions(req.PublishOptions.Form); err != nil {
			return nil, err
		}
	}
	if id == "" {
		id = stanza.NewID()
	}
	if n.cfg.PersistItems {
		rc.add(&Op{Kind: OpPublish, Node: n.id, Item: id, Payload: payload, Time: now()})
	}
	if n.cfg.DeliverNotifications {
		var b strings.Builder
		b.WriteString("<event xmlns='" + NSEvent + "'><items node='" + attr(n.id) + "'><item id='" + attr(id) + "'")
		if n.cfg.DeliverPayloads && payload != "" {
			b.WriteString(">" + payload + "</item>")
		} else {
			b.WriteString("/>")
		}
		b.WriteString("</items></event>")
		s.notify(rc, n, b.String())
	}
	return rc.result(NS, "<publish node='"+attr(n.id)+"'><item id='"+attr(id)+"'/></publish>"), nil
}

func (s *Service) mayPublish(n *node, bare string) bool {
	switch a := n.aff(bare); {
	case a == AffOutcast:
		return false
	case a == AffOwner || a == AffPublisher:
		return true
	case n.cfg.PublishModel == PublishOpen:
		return true
	case n.cfg.PublishModel == PublishSubscribers:
		return slices.ContainsFunc(n.subs, func(sub *subscription) bool { return bareOf(sub.jid) == bare })
	}
	return false
}

func (s *Service) retract(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Retract.Node)
	if err != nil {
		return nil, err
	}
	if len(req.Retract.Item) == 0 || req.Retract.Item[0].ID == nil || *req.Retract.Item[0].ID == "" {
		return nil, badRequest("an item id is required", "item-required")
	}
	if a := n.aff(rc.bare); a != AffOwner && a != AffPublisher {
		return nil, forbidden("only owners and publishers may retract")
	}
	if !n.cfg.PersistItems {
		return nil, unsupported("persistent-items")
	}
	var ids []string
	for _, it := range req.Retract.Item {
		if it.ID == nil || *it.ID == "" {
			return nil, badRequest("an item id is required", "item-required")
		}
		if _, found := n.item(*it.ID); found == nil {
			return nil, itemNotFound("no such item")
		}
		ids = append(ids, *it.ID)
	}
	notify := n.cfg.NotifyRetract
	switch req.Retract.Notify {
	case "true", "1":
		notify = true
	case "false", "0":
		notify = false
	}
	var b strings.Builder
	b.WriteString("<event xmlns='" + NSEvent + "'><items node='" + attr(n.id) + "'>")
	for _, id := range ids {
		rc.add(&Op{Kind: OpRetract, Node: n.id, Item: id})
		b.WriteString("<retract id='" + attr(id) + "'/>")
	}
	b.WriteString("</items></event>")
	if notify && n.cfg.DeliverNotifications {
		s.notify(rc, n, b.String())
	}
	return rc.iq.Reply(), nil
}

// requestedJID checks the jid attribute of a subscribe or unsubscribe:
// present, well formed, and the requester's own bare JID (XEP-0060 §6.1.3.1)
// unless the requester owns the node.
func requestedJID(rc *reqCtx, n *node, raw string) (jid.JID, error) {
	if raw == "" {
		return jid.JID{}, appErr(stanza.BadRequest, "invalid-jid", "", "the jid attribute is required")
	}
	j, err := jid.Parse(raw)
	if err != nil {
		return jid.JID{}, stanza.NewError(stanza.JIDMalformed, "")
	}
	if j.Bare().String() != rc.bare && (n == nil || n.aff(rc.bare) != AffOwner) {
		return jid.JID{}, invalidJID()
	}
	return j, nil
}

func (s *Service) subscribe(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Subscribe.Node)
	if err != nil {
		return nil, err
	}
	j, err := requestedJID(rc, nil, req.Subscribe.JID)
	if err != nil {
		return nil, err
	}
	key := j.String()
	switch a := n.aff(j.Bare().String()); {
	case a == AffOutcast:
		return nil, forbidden("banned from this node")
	case n.cfg.AccessModel == AccessWhitelist && a == AffNone:
		return nil, closedNode()
	}
	var deliver *bool
	withOptions := req.Options != nil && req.Options.Form != nil
	if withOptions {
		d, err := subscribeOptions(req.Options.Form)
		if err != nil {
			return nil, err
		}
		deliver = &d
	}
	var sub *subscription
	if withOptions && req.Options.Node != nil && *req.Options.Node != n.id {
		return nil, badRequest("options for another node", "invalid-options")
	}
	for _, x := range n.subs {
		if x.jid == key {
			sub = x
			break
		}
	}
	subid := ""
	if sub != nil && !withOptions {
		subid = sub.subid // subscribing again returns the subscription
	} else {
		if s.st.subs >= s.maxSubs {
			return nil, stanza.NewError(stanza.ResourceConstraint, "the service holds as many subscriptions as it can")
		}
		subid = stanza.NewID() // a first one, or another one with other options (§6.1.6)
		rc.add(&Op{Kind: OpSubscribe, Node: n.id, JID: key, SubID: subid, Deliver: deliver})
	}
	return rc.result(NS, "<subscription node='"+attr(n.id)+"' jid='"+attr(key)+"' subid='"+attr(subid)+"' subscription='subscribed'/>"), nil
}

// subscribeOptionsForm is the subscription options form (XEP-0060 §6.3.2,
// §16.4.2): only pubsub#deliver.
func subscribeOptionsForm(deliver bool) form.Form {
	return form.Form{Type: form.TypeForm, Fields: []form.Field{
		{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeOptions}},
		{Type: form.Boolean, Var: "pubsub#deliver", Label: "Enable delivery?", Values: []string{form.FormatBool(deliver)}},
	}}
}

// subscriptionFor finds the subscription an options request is about
// (XEP-0060 §6.3.4): the requester's own, named by subid when there are
// several.
func subscriptionFor(rc *reqCtx, n *node, o *optionsEl) (*subscription, error) {
	if o.JID == "" {
		return nil, appErr(stanza.BadRequest, "jid-required", "", "")
	}
	j, err := jid.Parse(o.JID)
	if err != nil {
		return nil, stanza.NewError(stanza.JIDMalformed, "")
	}
	if j.Bare().String() != rc.bare {
		return nil, forbidden("not your subscription")
	}
	var mine []*subscription
	for _, x := range n.subs {
		if x.jid == j.String() {
			mine = append(mine, x)
		}
	}
	switch {
	case len(mine) == 0:
		return nil, appErr(stanza.UnexpectedRequest, "not-subscribed", "", "")
	case o.SubID != "":
		for _, x := range mine {
			if x.subid == o.SubID {
				return x, nil
			}
		}
		return nil, appErr(stanza.NotAcceptable, "invalid-subid", "", "")
	case len(mine) > 1:
		return nil, appErr(stanza.BadRequest, "subid-required", "", "")
	}
	return mine[0], nil
}

func (s *Service) optionsGet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Options.Node)
	if err != nil {
		return nil, err
	}
	sub, err := subscriptionFor(rc, n, req.Options)
	if err != nil {
		return nil, err
	}
	return rc.result(NS, "<options node='"+attr(n.id)+"' jid='"+attr(sub.jid)+"' subid='"+attr(sub.subid)+"'>"+
		formXML(subscribeOptionsForm(sub.deliver))+"</options>"), nil
}

func (s *Service) optionsSet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Options.Node)
	if err != nil {
		return nil, err
	}
	sub, err := subscriptionFor(rc, n, req.Options)
	if err != nil {
		return nil, err
	}
	if req.Options.Form == nil || req.Options.Form.Type != form.TypeSubmit {
		return nil, badRequest("a submitted options form is required", "invalid-options")
	}
	deliver, err := subscribeOptions(req.Options.Form)
	if err != nil {
		return nil, err
	}
	rc.add(&Op{Kind: OpSubscribe, Node: n.id, JID: sub.jid, SubID: sub.subid, Deliver: &deliver})
	return rc.iq.Reply(), nil
}

// subscribeOptions reads a pubsub#subscribe_options form (XEP-0060 §6.3):
// only pubsub#deliver is supported.
func subscribeOptions(f *form.Form) (bool, error) {
	if ft := f.FormType(); ft != "" && ft != FormSubscribeOptions {
		return false, badRequest("FORM_TYPE must be "+FormSubscribeOptions, "invalid-options")
	}
	deliver := true
	for _, fl := range f.Fields {
		switch fl.Var {
		case form.FormTypeVar, "":
		case "pubsub#deliver":
			v, err := form.ParseBool(fl.Value())
			if err != nil {
				return false, badRequest("bad pubsub#deliver", "invalid-options")
			}
			deliver = v
		default:
			return false, badRequest("unsupported subscription option "+fl.Var, "invalid-options")
		}
	}
	return deliver, nil
}

func (s *Service) unsubscribe(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Unsubscribe.Node)
	if err != nil {
		return nil, err
	}
	j, err := requestedJID(rc, n, req.Unsubscribe.JID)
	if err != nil {
		return nil, err
	}
	key := j.String()
	var mine []*subscription
	for _, x := range n.subs {
		if x.jid == key {
			mine = append(mine, x)
		}
	}
	subid := req.Unsubscribe.SubID
	switch {
	case len(mine) == 0:
		return nil, appErr(stanza.UnexpectedRequest, "not-subscribed", "", "")
	case subid != "":
		if !slices.ContainsFunc(mine, func(x *subscription) bool { return x.subid == subid }) {
			return nil, appErr(stanza.NotAcceptable, "invalid-subid", "", "")
		}
	case len(mine) > 1:
		return nil, appErr(stanza.BadRequest, "subid-required", "", "several subscriptions: say which")
	default:
		subid = mine[0].subid
	}
	rc.add(&Op{Kind: OpUnsubscribe, Node: n.id, JID: key, SubID: subid})
	return rc.iq.Reply(), nil
}

// mayRead applies the access model to retrieval (XEP-0060 §6.5.9).
func mayRead(n *node, bare string) error {
	switch a := n.aff(bare); {
	case a == AffOutcast:
		return forbidden("banned from this node")
	case n.cfg.AccessModel == AccessWhitelist && a == AffNone:
		return closedNode()
	}
	return nil
}

func (s *Service) items(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.node(req.Items.Node)
	if err != nil {
		return nil, err
	}
	if err := mayRead(n, rc.bare); err != nil {
		return nil, err
	}
	max, err := parseMaxItemsAttr(req.Items.MaxItems)
	if err != nil {
		return nil, err
	}
	var sel []*item
	if len(req.Items.Item) > 0 {
		for _, it := range req.Items.Item {
			if it.ID == nil {
				return nil, badRequest("an item id is required", "item-required")
			}
			if _, found := n.item(*it.ID); found != nil {
				sel = append(sel, found)
			}
		}
	} else {
		sel = n.items
		if max > 0 && len(sel) > max {
			sel = sel[len(sel)-max:]
		}
	}
	// Keep the answer within what servers pass on a component link: the
	// newest items that fit (XEP-0060 §6.5.4 lets a service return some).
	size := 0
	for i := len(sel) - 1; i >= 0; i-- {
		size += len(sel[i].payload) + len(sel[i].id) + 32
		if size > MaxResultBytes && i < len(sel)-1 {
			sel = sel[i+1:]
			break
		}
	}
	var b strings.Builder
	b.WriteString("<items node='" + attr(n.id) + "'>")
	for _, it := range sel {
		b.WriteString("<item id='" + attr(it.id) + "'")
		if it.payload == "" {
			b.WriteString("/>")
			continue
		}
		b.WriteString(">" + it.payload + "</item>")
	}
	b.WriteString("</items>")
	return rc.result(NS, b.String()), nil
}

// nodesNamed returns the node named by a request's node attribute, or every
// node when the attribute is absent (XEP-0060 §5.6 and §5.7 ask for one node
// or all of them).
func (s *Service) nodesNamed(attrValue *string) ([]*node, error) {
	id, ok := nodeOf(attrValue)
	if !ok {
		return s.st.nodeList(), nil
	}
	n := s.st.nodes[id]
	if n == nil {
		return nil, itemNotFound("no such node")
	}
	return []*node{n}, nil
}

func (s *Service) ownSubscriptions(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	nodes, err := s.nodesNamed(req.Subscriptions.Node)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("<subscriptions>")
	for _, n := range nodes {
		for _, sub := range n.subs {
			if bareOf(sub.jid) == rc.bare {
				fmt.Fprintf(&b, "<subscription node='%s' jid='%s' subid='%s' subscription='subscribed'/>", attr(n.id), attr(sub.jid), attr(sub.subid))
			}
		}
	}
	b.WriteString("</subscriptions>")
	return rc.result(NS, b.String()), nil
}

func (s *Service) ownAffiliations(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	nodes, err := s.nodesNamed(req.Affiliations.Node)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("<affiliations>")
	for _, n := range nodes {
		if a, ok := n.affs[rc.bare]; ok {
			fmt.Fprintf(&b, "<affiliation node='%s' affiliation='%s'/>", attr(n.id), a)
		}
	}
	b.WriteString("</affiliations>")
	return rc.result(NS, b.String()), nil
}

func (s *Service) configureGet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Configure.Node)
	if err != nil {
		return nil, err
	}
	return rc.result(NSOwner, "<configure node='"+attr(n.id)+"'>"+formXML(n.cfg.Form(form.TypeForm))+"</configure>"), nil
}

func (s *Service) configureSet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Configure.Node)
	if err != nil {
		return nil, err
	}
	f := req.Configure.Form
	if f == nil {
		return nil, badRequest("a data form is required", "")
	}
	switch f.Type {
	case form.TypeCancel:
		return rc.iq.Reply(), nil
	case form.TypeSubmit:
	default:
		return nil, badRequest("the form must be of type submit", "")
	}
	cfg, err := n.cfg.Merge(f)
	if err != nil {
		return nil, err
	}
	rc.add(&Op{Kind: OpConfigure, Node: n.id, Config: &cfg})
	if cfg.NotifyConfig && cfg.DeliverNotifications {
		ev := "<event xmlns='" + NSEvent + "'><configuration node='" + attr(n.id) + "'"
		if cfg.DeliverPayloads {
			ev += ">" + formXML(cfg.Form(form.TypeResult)) + "</configuration></event>"
		} else {
			ev += "/></event>"
		}
		s.notifyWith(rc, n, cfg, ev)
	}
	return rc.iq.Reply(), nil
}

func (s *Service) deleteNode(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Delete.Node)
	if err != nil {
		return nil, err
	}
	if n.cfg.NotifyDelete {
		ev := "<event xmlns='" + NSEvent + "'><delete node='" + attr(n.id) + "'"
		if r := req.Delete.Redirect; r != nil && r.URI != "" {
			ev += "><redirect uri='" + attr(r.URI) + "'/></delete></event>"
		} else {
			ev += "/></event>"
		}
		// Deletion is told to every subscriber (XEP-0060 §8.4.2), even
		// those that asked for no notifications.
		s.notifyAll(rc, n, n.cfg, ev, true)
	}
	rc.add(&Op{Kind: OpDelete, Node: n.id})
	return rc.iq.Reply(), nil
}

func (s *Service) purge(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Purge.Node)
	if err != nil {
		return nil, err
	}
	if !n.cfg.PersistItems {
		return nil, unsupported("persistent-items")
	}
	rc.add(&Op{Kind: OpPurge, Node: n.id})
	if n.cfg.DeliverNotifications {
		s.notify(rc, n, "<event xmlns='"+NSEvent+"'><purge node='"+attr(n.id)+"'/></event>")
	}
	return rc.iq.Reply(), nil
}

func (s *Service) manageSubscriptionsGet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Subscriptions.Node)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("<subscriptions node='" + attr(n.id) + "'>")
	for _, sub := range n.subs {
		fmt.Fprintf(&b, "<subscription jid='%s' subscription='subscribed' subid='%s'/>", attr(sub.jid), attr(sub.subid))
	}
	b.WriteString("</subscriptions>")
	return rc.result(NSOwner, b.String()), nil
}

func (s *Service) manageSubscriptionsSet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Subscriptions.Node)
	if err != nil {
		return nil, err
	}
	for _, e := range req.Subscriptions.Subscription {
		j, err := jid.Parse(e.JID)
		if err != nil {
			return nil, stanza.NewError(stanza.JIDMalformed, "bad jid "+e.JID)
		}
		key := j.String()
		var has []*subscription
		for _, x := range n.subs {
			if x.jid == key && (e.SubID == "" || x.subid == e.SubID) {
				has = append(has, x)
			}
		}
		switch e.Subscription {
		case "none":
			for _, x := range has {
				rc.add(&Op{Kind: OpUnsubscribe, Node: n.id, JID: key, SubID: x.subid})
			}
		case "subscribed":
			if n.aff(j.Bare().String()) == AffOutcast {
				return nil, stanza.NewError(stanza.NotAcceptable, key+" is an outcast")
			}
			if len(has) == 0 {
				rc.add(&Op{Kind: OpSubscribe, Node: n.id, JID: key, SubID: stanza.NewID()})
			}
		default:
			return nil, badRequest("subscription must be subscribed or none", "")
		}
	}
	return rc.iq.Reply(), nil
}

func (s *Service) manageAffiliationsGet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Affiliations.Node)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("<affiliations node='" + attr(n.id) + "'>")
	for _, k := range n.affKeys {
		fmt.Fprintf(&b, "<affiliation jid='%s' affiliation='%s'/>", attr(k), n.affs[k])
	}
	b.WriteString("</affiliations>")
	return rc.result(NSOwner, b.String()), nil
}

func (s *Service) manageAffiliationsSet(rc *reqCtx, req *request) (*stanza.Stanza, error) {
	n, err := s.ownerNode(rc, req.Affiliations.Node)
	if err != nil {
		return nil, err
	}
	next := map[string]string{}
	for k, v := range n.affs {
		next[k] = v
	}
	var ops []*Op
	for _, e := range req.Affiliations.Affiliation {
		j, err := jid.Parse(e.JID)
		if err != nil {
			return nil, stanza.NewError(stanza.JIDMalformed, "bad jid "+e.JID)
		}
		if !validAffiliation(e.Affiliation) {
			return nil, badRequest("unknown affiliation "+e.Affiliation, "")
		}
		key := j.Bare().String()
		if e.Affiliation == AffNone {
			delete(next, key)
		} else {
			next[key] = e.Affiliation
		}
		ops = append(ops, &Op{Kind: OpAffiliate, Node: n.id, JID: key, Affiliation: e.Affiliation})
	}
	owners := 0
	for _, v := range next {
		if v == AffOwner {
			owners++
		}
	}
	if owners == 0 {
		return nil, stanza.NewError(stanza.NotAcceptable, "a node must keep an owner")
	}
	for _, op := range ops {
		rc.add(op)
	}
	return rc.iq.Reply(), nil
}

// notify queues the event for every subscriber who wants notifications.
func (s *Service) notify(rc *reqCtx, n *node, event string) {
	s.notifyAll(rc, n, n.cfg, event, false)
}

func (s *Service) notifyWith(rc *reqCtx, n *node, cfg Config, event string) {
	s.notifyAll(rc, n, cfg, event, false)
}

// notifyAll builds one message per subscribed JID (XEP-0060 §7.1.2.1),
// with XEP-0131 SubID headers when the JID holds several subscriptions
// (XEP-0060 §12.17),
// sharing the event element among them.
func (s *Service) notifyAll(rc *reqCtx, n *node, cfg Config, event string, all bool) {
	ev, err := stanza.ParseElement(event)
	if err != nil {
		s.log.Error("pubsub: bad event", "err", err)
		return
	}
	typ := cfg.NotificationType
	if typ == stanza.TypeNormal {
		typ = ""
	}
	for i, sub := range n.subs {
		if !all && !sub.deliver {
			continue
		}
		var subids []string
		if n.multi {
			// One message per JID, listing its subscriptions.
			dup := false
			for j, other := range n.subs {
				if other.jid != sub.jid || (!all && !other.deliver) {
					continue
				}
				if j < i {
					dup = true
					break
				}
				subids = append(subids, other.subid)
			}
			if dup {
				continue
			}
		}
		m := stanza.NewMessage(typ, sub.addr, "")
		m.From = rc.svc
		if len(subids) > 1 {
			var b strings.Builder
			b.WriteString("<headers xmlns='" + NSSHIM + "'>")
			for _, id := range subids {
				b.WriteString("<header name='SubID'>" + attr(id) + "</header>")
			}
			b.WriteString("</headers>")
			m.SetPayloadElements(ev, stanza.MustElement(b.String()))
		} else {
			m.SetPayloadElements(ev)
		}
		rc.notes = append(rc.notes, m)
	}
}

func attr(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&apos;")
}

func formXML(f form.Form) string {
	b, err := xml.Marshal(f)
	if err != nil {
		panic(err) // a form built here always encodes
	}
	return string(b)
}

func bareOf(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}
