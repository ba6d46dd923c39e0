package pubsub

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// NSDelay is XEP-0203 (Delayed Delivery): the stamp on a last published
// item sent after the fact.
const NSDelay = "urn:xmpp:delay"

// itemReply returns the publisher attribute of an item (pubsub#itemreply,
// XEP-0060 §7.1.2.1): the publisher's JID, the owner's, or none.
func itemReply(tx Tx, n *Node, it *Item) (string, error) {
	switch n.Config.ItemReply {
	case ItemReplyPublisher:
		return it.Publisher, nil
	case ItemReplyOwner:
		affs, err := tx.Affiliations(n.Key)
		if err != nil {
			return "", err
		}
		for _, a := range affs {
			if a.Affiliation == AffOwner {
				return a.JID, nil
			}
		}
	}
	return "", nil
}

// addItem writes <item id publisher>payload</item> into the open element.
func addItem(b *stanza.Builder, it *Item, payload bool, publisher string) error {
	b.Child("", "item").Attr("id", it.ID).OptAttr("publisher", publisher)
	if payload && it.Payload != "" {
		el, err := stanza.ParseElement(it.Payload)
		if err != nil {
			return fmt.Errorf("pubsub: stored item %q is not well-formed: %w", it.ID, err)
		}
		b.Append(el)
	}
	b.End()
	return nil
}

// itemEvent is the notification of a published item (XEP-0060 §7.1.2.1).
func itemEvent(tx Tx, n *Node, it *Item) (stanza.Element, error) {
	pub, err := itemReply(tx, n, it)
	if err != nil {
		return stanza.Element{}, err
	}
	b := stanza.NewBuilder(NSEvent, "event").Child("", "items").Attr("node", n.Node)
	if err := addItem(b, it, n.Config.DeliverPayloads, pub); err != nil {
		return stanza.Element{}, err
	}
	return b.Element(), nil
}

// notifyOpts says whom a notification goes to.
type notifyOpts struct {
	// all includes the subscriptions that asked for no delivery (a node's
	// deletion is told to every subscriber, XEP-0060 §8.4.2).
	all bool
	// only limits the notification to the subscriptions of one JID (as
	// subscribed); "" means every subscriber. to, when set, is where that
	// notification goes instead (a resource of a bare JID's subscription
	// that came online).
	only, to string
	// direct sends the notification to this JID alone, subscribed or not
	// (a PEP contact's resource, XEP-0163 §4.3).
	direct string
	// delay stamps the messages with XEP-0203 <delay/> at this time (a
	// last published item sent later).
	delay time.Time
	// pep adds the implicit recipients of a PEP node (XEP-0163 §4.3):
	// the account's and its contacts' available resources that want the
	// node's notifications (+notify in their XEP-0115 capabilities).
	pep bool
}

// notify queues the event for the subscribers of the node: one message per
// subscribed JID (XEP-0060 §7.1.2.1), with XEP-0131 SubID headers when the
// JID holds several subscriptions (§12.17), sharing the event element.
func (s *Service) notify(tx Tx, rc *reqCtx, n *Node, ev stanza.Element, o notifyOpts) error {
	type target struct {
		to     string
		subids []string
	}
	var targets []*target
	var subs []Subscription
	if o.direct != "" {
		targets = append(targets, &target{to: o.direct})
	} else {
		var err error
		if subs, err = tx.Subscriptions(n.Key); err != nil {
			return err
		}
	}
	byJID := map[string]*target{}
	for _, sub := range subs {
		if sub.State == SubPending || !o.all && !sub.Options.Deliver || o.only != "" && sub.JID != o.only {
			continue
		}
		t := byJID[sub.JID]
		if t == nil {
			t = &target{to: sub.JID}
			byJID[sub.JID] = t
			targets = append(targets, t)
		}
		t.subids = append(t.subids, sub.SubID)
	}
	typ := n.Config.NotificationType
	if typ == stanza.TypeNormal {
		typ = ""
	}
	var delay stanza.Element
	if !o.delay.IsZero() {
		delay = stanza.NewBuilder(NSDelay, "delay").Attr("stamp", o.delay.UTC().Format(time.RFC3339Nano)).
			Attr("from", rc.svc.String()).Element()
	}
	send := func(to jid.JID, subids []string) {
		m := stanza.NewMessage(typ, to, "")
		m.From = rc.svc
		elems := []stanza.Element{ev}
		if len(subids) > 1 {
			h := stanza.NewBuilder(NSSHIM, "headers")
			for _, id := range subids {
				h.Child("", "header").Attr("name", "SubID").Text(id).End()
			}
			elems = append(elems, h.Element())
		}
		if !o.delay.IsZero() {
			elems = append(elems, delay)
		}
		m.SetPayloadElements(elems...)
		rc.note(m)
	}
	covered := map[string]bool{}
	for _, t := range targets {
		if o.to != "" {
			t.to = o.to
		}
		to, err := jid.Parse(t.to)
		if err != nil {
			continue // stored by the service: never happens
		}
		covered[t.to] = true
		send(to, t.subids)
	}
	if o.pep && rc.pep && o.only == "" && o.direct == "" {
		recipients, err := s.pepRecipients(tx, n)
		if err != nil {
			return err
		}
		for _, to := range recipients {
			if !covered[to.String()] && !covered[to.Bare().String()] {
				send(to, nil)
			}
		}
	}
	return nil
}

// notifySubscription tells an entity its subscription changed (XEP-0060
// §8.8.4, §8.6: approved, denied, removed).
func (s *Service) notifySubscription(rc *reqCtx, n *Node, sub Subscription, state string) {
	to, err := jid.Parse(sub.JID)
	if err != nil {
		return
	}
	m := stanza.NewMessage("", to, "")
	m.From = rc.svc
	m.SetPayloadElements(stanza.NewBuilder(NSEvent, "event").Child("", "subscription").Attr("node", n.Node).
		Attr("jid", sub.JID).OptAttr("subid", sub.SubID).Attr("subscription", state).Element())
	rc.note(m)
}

// notifyOwners tells the node's owners of a subscription change
// (pubsub#notify_sub, XEP-0060 §16.4.4).
func (s *Service) notifyOwners(tx Tx, rc *reqCtx, n *Node, sub Subscription, state string) error {
	if !n.Config.NotifySub {
		return nil
	}
	affs, err := tx.Affiliations(n.Key)
	if err != nil {
		return err
	}
	ev := stanza.NewBuilder(NSEvent, "event").Child("", "subscription").Attr("node", n.Node).
		Attr("jid", sub.JID).OptAttr("subid", sub.SubID).Attr("subscription", state).Element()
	for _, a := range affs {
		if a.Affiliation != AffOwner {
			continue
		}
		to, err := jid.Parse(a.JID)
		if err != nil {
			continue
		}
		m := stanza.NewMessage("", to, "")
		m.From = rc.svc
		m.SetPayloadElements(ev)
		rc.note(m)
	}
	return nil
}

// sendLast queues the node's last item for one subscription's JID
// (send_last_published_item, XEP-0060 §12.9), if it may see it.
func (s *Service) sendLast(tx Tx, rc *reqCtx, n *Node, sub Subscription) error {
	return s.sendLastTo(tx, rc, n, sub, "")
}

// sendLastTo is sendLast to another address than the subscription's.
func (s *Service) sendLastTo(tx Tx, rc *reqCtx, n *Node, sub Subscription, to string) error {
	return s.sendLastOpts(tx, rc, n, sub, notifyOpts{only: sub.JID, to: to})
}

// sendLastOpts sends the last item with the notification options.
func (s *Service) sendLastOpts(tx Tx, rc *reqCtx, n *Node, sub Subscription, o notifyOpts) error {
	if !n.Config.DeliverNotifications || !sub.Options.Deliver || sub.State == SubPending {
		return nil
	}
	last, err := tx.Items(n.Key, ItemQuery{Limit: 1, Payloads: true})
	if err != nil || len(last) == 0 {
		return err
	}
	if s.expired(n, last[0]) {
		return nil
	}
	ev, err := itemEvent(tx, n, last[0])
	if err != nil {
		return err
	}
	o.delay = last[0].Time
	return s.notify(tx, rc, n, ev, o)
}

// publishedItem is the item of a publish request, checked.
type publishedItem struct {
	id, payload string
	has         bool // an <item/> was sent
}

func parsePublished(p *publishEl) (publishedItem, error) {
	var pi publishedItem
	switch len(p.Item) {
	case 0:
		return pi, nil
	case 1:
	default:
		return pi, badRequest("one item per publish request", "invalid-payload")
	}
	it := &p.Item[0]
	payload, err := payloadOf(it)
	if err != nil {
		return pi, err
	}
	pi.payload, pi.has = payload, true
	if it.ID != nil {
		pi.id = *it.ID
	}
	switch {
	case len(payload) > MaxPayloadBytes:
		return pi, appErr(stanza.NotAcceptable, "payload-too-big", "", fmt.Sprintf("an item holds at most %d bytes", MaxPayloadBytes))
	case len(pi.id) > MaxIDBytes:
		return pi, stanza.NewError(stanza.NotAcceptable, "item id too long")
	}
	return pi, nil
}

// publishOptionsConfig turns publish-options into the configuration of a
// node created by the publish (XEP-0060 §7.1.5 with auto-create, XEP-0223).
func publishOptionsConfig(cfg Config, f *form.Form, env configEnv) (Config, error) {
	sub := &form.Form{Type: form.TypeSubmit}
	for _, fl := range f.Fields {
		if fl.Var != form.FormTypeVar {
			sub.Fields = append(sub.Fields, fl)
		}
	}
	c, err := cfg.merge(sub, env)
	if err != nil {
		var se *stanza.Error
		if errors.As(err, &se) && se.Condition == stanza.NotAcceptable {
			return cfg, appErr(stanza.Conflict, "precondition-not-met", "", se.Text)
		}
		return cfg, err
	}
	return c, nil
}

func (s *Service) publish(rc *reqCtx) error {
	p := rc.req.Publish
	id, ok := nodeOf(p.Node)
	if !ok {
		return nodeIDRequired()
	}
	pi, err := parsePublished(p)
	if err != nil {
		return err
	}
	var opts *form.Form
	if po := rc.req.PublishOptions; po != nil && po.Form != nil {
		opts = po.Form
	}
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := tx.Node(rc.k(id))
		if errors.Is(err, ErrNotFound) && (rc.pep || s.autoCreate) {
			// Auto-create (XEP-0060 §7.1.4, XEP-0163 §3), configured by
			// the publish-options.
			if err := s.mayCreateNode(rc); err != nil {
				return nil, err
			}
			cfg := s.defaultConfigFor(rc)
			if opts != nil {
				if cfg, err = publishOptionsConfig(cfg, opts, s.env(rc.bare)); err != nil {
					return nil, err
				}
			}
			if err := s.createNode(tx, rc, id, cfg); err != nil {
				return nil, err
			}
			n, err = tx.Node(rc.k(id))
		}
		if err != nil {
			return nil, err
		}
		itemID, err := s.publishItem(tx, rc, n, pi, opts)
		if err != nil {
			return nil, err
		}
		return rc.result(NS, stanza.NewBuilder("", "publish").Attr("node", n.Node).
			Child("", "item").Attr("id", itemID).Element()), nil
	})
}

// publishItem checks and stores one publish (XEP-0060 §7.1) and queues its
// notifications; it returns the item's id.
func (s *Service) publishItem(tx Tx, rc *reqCtx, n *Node, pi publishedItem, opts *form.Form) (string, error) {
	aff, err := s.affOf(tx, rc, n)
	if err != nil {
		return "", err
	}
	if err := s.mayPublish(tx, rc, n, aff); err != nil {
		return "", err
	}
	cfg := n.Config
	env := s.env(n.Creator)
	switch {
	case !pi.has && (cfg.PersistItems || cfg.DeliverPayloads):
		return "", badRequest("an item is required", "item-required")
	case pi.payload == "" && pi.has && (cfg.PersistItems || cfg.DeliverPayloads):
		return "", badRequest("a payload is required", "payload-required")
	case pi.payload != "" && !cfg.PersistItems && !cfg.DeliverPayloads:
		return "", badRequest("this node takes no payloads", "item-forbidden")
	case len(pi.payload) > env.maxPayloadOf(cfg):
		return "", appErr(stanza.NotAcceptable, "payload-too-big", "", fmt.Sprintf("items of this node hold at most %d bytes", env.maxPayloadOf(cfg)))
	}
	if opts != nil {
		if err := cfg.checkPublishOptions(opts, env); err != nil {
			return "", err
		}
	}
	it := &Item{ID: pi.id, Publisher: rc.bare, Time: s.timeNow(), Payload: pi.payload, Size: len(pi.payload)}
	if it.ID == "" {
		it.ID = stanza.NewID()
	}
	if cfg.PersistItems {
		if err := s.checkItemQuota(tx, n, it); err != nil {
			return "", err
		}
		if err := tx.PutItem(n.Key, it); err != nil {
			return "", err
		}
		if err := s.trim(tx, n); err != nil {
			return "", err
		}
	}
	if cfg.DeliverNotifications {
		ev, err := itemEvent(tx, n, it)
		if err != nil {
			return "", err
		}
		if err := s.notify(tx, rc, n, ev, notifyOpts{pep: true}); err != nil {
			return "", err
		}
	}
	return it.ID, nil
}

// checkItemQuota refuses an item that would take the node past
// MaxNodeBytes or the store past MaxStoreBytes; the item it replaces is
// freed first.
func (s *Service) checkItemQuota(tx Tx, n *Node, it *Item) error {
	_, bytes, err := tx.ItemStats(n.Key)
	if err != nil {
		return err
	}
	g := growth{bytes: itemCost(it.ID, len(it.Payload)), itemBytes: int64(len(it.ID) + len(it.Payload))}
	var freed int64
	if old, err := tx.Items(n.Key, ItemQuery{IDs: []string{it.ID}}); err != nil {
		return err
	} else if len(old) == 1 {
		freed = int64(old[0].Size)
		g.bytes -= itemCost(it.ID, old[0].Size)
		g.itemBytes -= int64(len(it.ID)) + freed
	}
	if bytes-freed+int64(len(it.Payload)) > s.limits.MaxNodeBytes {
		return policy(fmt.Sprintf("node %s is full: it keeps at most %d bytes of items", n.Node, s.limits.MaxNodeBytes))
	}
	return s.checkGrowth(tx, g)
}

// mayPublish applies the affiliation and the publish model (XEP-0060
// §7.1.3.1, §4.1).
func (s *Service) mayPublish(tx Tx, rc *reqCtx, n *Node, aff string) error {
	switch aff {
	case AffOutcast:
		return forbidden("banned from this node")
	case AffOwner, AffPublisher, AffPublishOnly:
		return nil
	}
	switch n.Config.PublishModel {
	case PublishOpen:
		return nil
	case PublishSubscribers:
		subs, err := tx.Subscriptions(n.Key)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(subs, func(sub Subscription) bool { return bareOf(sub.JID) == rc.bare && sub.State != SubPending }) {
			return nil
		}
	}
	return forbidden("not allowed to publish to this node")
}

func (s *Service) retract(rc *reqCtx) error {
	r := rc.req.Retract
	if len(r.Item) == 0 {
		return badRequest("an item id is required", "item-required")
	}
	var ids []string
	for _, it := range r.Item {
		if it.ID == nil || *it.ID == "" {
			return badRequest("an item id is required", "item-required")
		}
		ids = append(ids, *it.ID)
	}
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, aff, err := s.nodeAff(tx, rc, r.Node)
		if err != nil {
			return nil, err
		}
		if aff != AffOwner && aff != AffPublisher && aff != AffPublishOnly {
			return nil, forbidden("only owners and publishers may retract")
		}
		if !n.Config.PersistItems {
			return nil, unsupported("persistent-items")
		}
		found, err := tx.Items(n.Key, ItemQuery{IDs: ids})
		if err != nil {
			return nil, err
		}
		if len(found) < len(ids) {
			return nil, itemNotFound("no such item")
		}
		for _, it := range found {
			// publish-only: its own items only (XEP-0060 §4.1).
			if aff == AffPublishOnly && it.Publisher != rc.bare {
				return nil, forbidden("a publish-only entity retracts only its own items")
			}
		}
		notify := n.Config.NotifyRetract
		switch r.Notify {
		case "true", "1":
			notify = true
		case "false", "0":
			notify = false
		}
		b := stanza.NewBuilder(NSEvent, "event").Child("", "items").Attr("node", n.Node)
		for _, id := range ids {
			if _, err := tx.DeleteItem(n.Key, id); err != nil {
				return nil, err
			}
			b.Child("", "retract").Attr("id", id).End()
		}
		if notify && n.Config.DeliverNotifications {
			if err := s.notify(tx, rc, n, b.Element(), notifyOpts{pep: true}); err != nil {
				return nil, err
			}
		}
		return rc.iq.Reply(), nil
	})
}
