package pubsub

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// presenceTable remembers the available resources the service hears of
// (directed presence, and with the XEP-0356 presence permission the
// server's users and their contacts) with what their XEP-0115
// capabilities say they want: the +notify features of XEP-0163 §4.
type presenceTable struct {
	mu     sync.Mutex
	byBare map[string]map[string]*resource // bare -> full -> resource
	n      int
	caps   map[string][]string // caps node#ver -> features (verified)
	asking map[string]bool
}

type resource struct {
	caps     string   // "node#ver", "" when the presence had none
	features []string // once known
}

const (
	maxPresences = 100_000
	maxCaps      = 10_000
)

func newPresenceTable() *presenceTable {
	return &presenceTable{byBare: map[string]map[string]*resource{}, caps: map[string][]string{}, asking: map[string]bool{}}
}

// set records an available resource; it returns the caps key whose
// features are still unknown ("" when known or absent).
func (t *presenceTable) set(full jid.JID, caps string) (unknown string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	bare := full.Bare().String()
	m := t.byBare[bare]
	if m == nil {
		if t.n >= maxPresences {
			return ""
		}
		m = map[string]*resource{}
		t.byBare[bare] = m
	}
	r := m[full.String()]
	if r == nil {
		if t.n >= maxPresences {
			return ""
		}
		r = &resource{}
		m[full.String()] = r
		t.n++
	}
	r.caps = caps
	r.features = nil
	if caps == "" {
		return ""
	}
	if f, ok := t.caps[caps]; ok {
		r.features = f
		return ""
	}
	if t.asking[caps] {
		return ""
	}
	t.asking[caps] = true
	return caps
}

func (t *presenceTable) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.byBare)
	t.n = 0
}

func (t *presenceTable) remove(full jid.JID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	bare := full.Bare().String()
	if m := t.byBare[bare]; m != nil {
		if _, ok := m[full.String()]; ok {
			delete(m, full.String())
			t.n--
		}
		if len(m) == 0 {
			delete(t.byBare, bare)
		}
	}
}

// learned records the features of a caps key for every resource that
// announced it.
func (t *presenceTable) learned(caps string, features []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.asking, caps)
	if features == nil {
		return
	}
	if len(t.caps) >= maxCaps {
		clear(t.caps)
	}
	t.caps[caps] = features
	for _, m := range t.byBare {
		for _, r := range m {
			if r.caps == caps {
				r.features = features
			}
		}
	}
}

// wanting returns the available resources of bare whose capabilities
// include the feature.
func (t *presenceTable) wanting(bare, feature string) []jid.JID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []jid.JID
	for full, r := range t.byBare[bare] {
		if slices.Contains(r.features, feature) {
			if j, err := jid.Parse(full); err == nil {
				out = append(out, j)
			}
		}
	}
	slices.SortFunc(out, func(a, b jid.JID) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func (t *presenceTable) features(full jid.JID) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.byBare[full.Bare().String()][full.String()]; r != nil {
		return r.features
	}
	return nil
}

// capsOf returns the "node#ver" of a presence's XEP-0115 <c/>, or "".
func capsOf(p *stanza.Stanza) string {
	var c struct {
		Node string `xml:"node,attr"`
		Ver  string `xml:"ver,attr"`
		Hash string `xml:"hash,attr"`
	}
	if p.UnmarshalChild(disco.NSCaps, "c", &c) != nil || c.Node == "" || c.Ver == "" {
		return ""
	}
	return c.Node + "#" + c.Ver
}

// learnCaps asks the resource for the features behind its caps (XEP-0115
// §6.3) and checks the hash (§5.4) before believing them for everyone.
func (s *Service) learnCaps(snd mux.Sender, full jid.JID, caps string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	info, err := disco.GetInfo(ctx, snd, full, caps)
	if err != nil {
		s.log.Debug("pubsub: capabilities not learned", "jid", full.String(), "caps", caps, "err", err)
		s.presence.learned(caps, nil)
		return
	}
	ver := caps[strings.LastIndexByte(caps, '#')+1:]
	if h, err := disco.CapsHash(info); err != nil || h != ver {
		// Not the hash it claims: believe it for this resource only.
		s.presence.learned(caps, nil)
		s.presence.mu.Lock()
		if r := s.presence.byBare[full.Bare().String()][full.String()]; r != nil {
			r.features = info.Features
		}
		s.presence.mu.Unlock()
		return
	}
	s.presence.learned(caps, info.Features)
}

// handlePresence follows the available resources (for PEP's filtered
// notifications) and sends the last published items to a subscriber that
// comes online (send_last_published_item on_sub_and_presence, XEP-0060
// §12.9; XEP-0163 §4.3.2 for PEP).
func (s *Service) handlePresence(ctx context.Context, snd mux.Sender, p *stanza.Stanza) error {
	if p.From.Local() == "" || p.From.Resource() == "" {
		return nil
	}
	switch p.Type {
	case stanza.TypeUnavailable:
		s.presence.remove(p.From)
		return nil
	case "":
	default:
		return nil
	}
	unknown := s.presence.set(p.From, capsOf(p))
	s.rosters.forget(p.From.Bare().String())
	s.log.Debug("pubsub: available", "jid", p.From.String(), "caps", capsOf(p), "asking", unknown)
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.bg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return nil
	}
	work := func() {
		defer s.bg.Done()
		if unknown != "" {
			s.learnCaps(snd, p.From, unknown)
		}
		s.lastOnPresence(snd, p.From, p.To)
	}
	// At most presenceWorkers at once; past that the sender's own worker
	// does it (a presence storm slows down, nothing piles up).
	select {
	case s.presenceSem <- struct{}{}:
		go func() {
			defer func() { <-s.presenceSem }()
			work()
		}()
	default:
		work()
	}
	return nil
}

// presenceWorkers bounds the presences handled in the background at once.
const presenceWorkers = 32

// lastOnPresence sends full the last items it is owed: of the service's
// nodes it is subscribed to with on_sub_and_presence, and of the PEP nodes
// of the accounts whose presence it receives (its roster's to and both
// contacts, and itself) that its capabilities want.
func (s *Service) lastOnPresence(snd mux.Sender, full, to jid.JID) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc := to.DomainJID()
	if to.Local() != "" {
		return
	}
	bare := full.Bare().String()
	rc := &reqCtx{ctx: ctx, snd: snd, from: full, bare: bare, svc: svc, s: s}
	owed := false
	s.store.Read(ctx, func(tx Tx) error {
		subs, err := tx.SubscriptionsOf("", bare)
		for _, sub := range subs {
			if n, err := tx.Node(sub.Key); err == nil && n.Config.SendLastPublished == SendOnSubAndPresence {
				owed = true
			}
		}
		return err
	})
	var err error
	if owed {
		err = s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
			subs, err := tx.SubscriptionsOf("", bare)
			if err != nil {
				return nil, err
			}
			for _, sub := range subs {
				if sub.JID != full.String() && sub.JID != bare {
					continue
				}
				n, err := tx.Node(sub.Key)
				if err != nil || n.Config.SendLastPublished != SendOnSubAndPresence {
					continue
				}
				if err := s.sendLastTo(tx, rc, n, sub, full.String()); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	}
	if err != nil {
		s.log.Debug("pubsub: last items on presence", "to", full.String(), "err", err)
	}
	if s.deleg == nil || s.priv == nil {
		return
	}
	// PEP: the accounts whose presence full receives.
	accounts := []string{bare}
	if ok, _ := s.canReadRosters(bare); ok {
		r, err := s.roster(bare)
		if err != nil {
			s.fetchRoster(ctx, snd, full.Bare())
			r, err = s.roster(bare)
		}
		if err == nil {
			for c, it := range r.items {
				if it.Subscription == "to" || it.Subscription == "both" {
					accounts = append(accounts, c)
				}
			}
		}
	}
	behalf := s.priv.OnBehalf(snd)
	for _, acct := range accounts {
		aj, err := jid.Parse(acct)
		if err != nil {
			continue
		}
		prc := &reqCtx{ctx: ctx, snd: behalf, from: full, bare: bare, svc: aj, key: acct, pep: true, s: s}
		err = s.write(prc, func(tx Tx) (*stanza.Stanza, error) {
			nodes, err := tx.Nodes(acct, Page{Limit: 1000})
			if err != nil {
				return nil, err
			}
			want := s.presence.features(full)
			for _, n := range nodes {
				if n.Config.SendLastPublished != SendOnSubAndPresence || !slices.Contains(want, n.Node+"+notify") {
					continue
				}
				aff, err := s.affOf(tx, prc, n)
				if err != nil {
					return nil, err
				}
				if s.mayRetrieve(tx, prc, n, aff) != nil {
					continue
				}
				sub := Subscription{Key: n.Key, JID: full.String(), State: SubSubscribed, Options: DefaultSubOptions()}
				if err := s.sendLastOpts(tx, prc, n, sub, notifyOpts{direct: full.String()}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		if err != nil {
			s.log.Debug("pubsub: PEP last items on presence", "account", acct, "to", full.String(), "err", err)
		}
	}
}

// pepRecipients are the implicit recipients of a PEP node's notifications
// (XEP-0163 §4.3): the available resources of the account and, by the
// access model, of its contacts (subscription from or both, in the roster
// groups for roster) whose capabilities want the node (+notify,
// filtered notifications).
func (s *Service) pepRecipients(tx Tx, n *Node) ([]jid.JID, error) {
	owner := n.Service
	feature := n.Node + "+notify"
	out := s.presence.wanting(owner, feature)
	switch n.Config.AccessModel {
	case AccessWhitelist, AccessAuthorize:
		return out, nil
	}
	if ok, _ := s.canReadRosters(owner); !ok {
		return out, nil
	}
	r, err := s.roster(owner)
	if err != nil {
		return nil, err
	}
	contacts := make([]string, 0, len(r.items))
	for c, it := range r.items {
		if it.Subscription != "from" && it.Subscription != "both" {
			continue
		}
		if n.Config.AccessModel == AccessRoster {
			if ok, _ := s.inGroups(owner, c, n.Config.RosterGroups); !ok {
				continue
			}
		}
		contacts = append(contacts, c)
	}
	slices.Sort(contacts)
	for _, c := range contacts {
		out = append(out, s.presence.wanting(c, feature)...)
	}
	return out, nil
}

// PEPFeatures are the pubsub features the service offers at its users'
// addresses through delegation (XEP-0163 §6 with XEP-0060 §10).
var PEPFeatures = []string{
	"access-open", "access-presence", "access-roster", "access-whitelist", "auto-create", "auto-subscribe",
	"config-node", "create-and-configure", "create-nodes", "delete-items", "delete-nodes", "filtered-notifications",
	"item-ids", "last-published", "persistent-items", "presence-notifications", "publish",
	"publish-options", "purge-nodes", "retract-items", "retrieve-affiliations", "retrieve-default", "retrieve-items",
	"retrieve-subscriptions", "subscribe", "subscription-options",
}

// delegatedFeatures answers the server's disco#info about the delegated
// namespaces (XEP-0355 §7.2): what the PEP service offers.
func (s *Service) delegatedFeatures(ns string, bare bool) []string {
	switch ns {
	case NS:
		out := []string{NS}
		for _, f := range PEPFeatures {
			out = append(out, featurePf+f)
		}
		return out
	case NSOwner:
		return []string{NSOwner}
	}
	return nil
}

// delegatedIdentities gives the pubsub/pep identity at the users' bare
// JIDs (XEP-0163 §6).
func (s *Service) delegatedIdentities(ns string, bare bool) []disco.Identity {
	if ns == NS && bare {
		return []disco.Identity{{Category: "pubsub", Type: "pep"}}
	}
	return nil
}
