package pubsub

import (
	"context"
	"fmt"
	"slices"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// requestedJID checks the jid attribute of a subscribe or unsubscribe:
// present, well formed, and the requester's own bare JID or a full JID of
// it (XEP-0060 §6.1.3.1: bad-request + <invalid-jid/> otherwise), unless
// the requester owns the node (unsubscribing someone).
func requestedJID(rc *reqCtx, raw string, mayOther bool) (jid.JID, error) {
	if raw == "" {
		return jid.JID{}, appErr(stanza.BadRequest, "jid-required", "", "the jid attribute is required")
	}
	j, err := validJID(raw)
	if err != nil {
		return jid.JID{}, err
	}
	if j.Bare().String() != rc.bare && !mayOther {
		return jid.JID{}, invalidJID()
	}
	return j, nil
}

// subscriptionEl is a <subscription/> of a subscribe answer or a listing.
func subscriptionEl(ns string, node string, sub Subscription) stanza.Element {
	return stanza.NewBuilder("", "subscription").OptAttr("node", node).Attr("jid", sub.JID).
		OptAttr("subid", sub.SubID).Attr("subscription", sub.State).Element()
}

func (s *Service) subscribe(rc *reqCtx) error {
	sr := rc.req.Subscribe
	j, err := requestedJID(rc, sr.JID, false)
	if err != nil {
		return err
	}
	opts := DefaultSubOptions()
	withOptions := rc.req.Options != nil && rc.req.Options.Form != nil
	if withOptions {
		if o := rc.req.Options.Node; o != nil && sr.Node != nil && *o != *sr.Node {
			return badRequest("options for another node", "invalid-options")
		}
		if opts, err = opts.merge(rc.req.Options.Form); err != nil {
			return err
		}
	}
	key := j.String()
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, aff, err := s.nodeAff(tx, rc, sr.Node)
		if err != nil {
			return nil, err
		}
		state, err := s.subscribeState(tx, rc, n, aff)
		if err != nil {
			return nil, err
		}
		subs, err := tx.Subscriptions(n.Key)
		if err != nil {
			return nil, err
		}
		mine, _ := subsOf(tx, n.Key, key, "")
		// Subscribing again returns the subscription; a pending request
		// stays the one request (§6.1.4), whatever the options.
		if i := slices.IndexFunc(mine, func(x Subscription) bool { return x.State == SubPending }); i >= 0 {
			return rc.result(NS, subscriptionEl(NS, n.Node, mine[i])), nil
		}
		if len(mine) > 0 && !withOptions {
			return rc.result(NS, subscriptionEl(NS, n.Node, mine[0])), nil
		}
		// Another subscription with other options (§6.1.6), within the
		// limits.
		switch {
		case len(mine) >= s.limits.MaxSubscriptionsPerJID:
			return nil, appErr(stanza.PolicyViolation, "too-many-subscriptions", "",
				fmt.Sprintf("%s holds %d subscriptions to this node, the most the service allows", key, len(mine)))
		case len(subs) >= s.limits.MaxSubscriptionsPerNode:
			return nil, policy(fmt.Sprintf("node %s has %d subscriptions, the most the service allows", n.Node, len(subs)))
		}
		if err := s.checkGrowth(tx, growth{bytes: subCost(key), subs: 1}); err != nil {
			return nil, err
		}
		sub := Subscription{Key: n.Key, JID: key, SubID: stanza.NewID(), State: state, Options: opts, Created: s.timeNow()}
		if err := tx.PutSubscription(sub); err != nil {
			return nil, err
		}
		if state == SubPending {
			if err := s.askOwners(tx, rc, n, sub); err != nil {
				return nil, err
			}
		} else if err := s.subscribed(tx, rc, n, sub); err != nil {
			return nil, err
		}
		return rc.result(NS, subscriptionEl(NS, n.Node, sub)), nil
	})
}

// subscribed queues what follows a new subscription: the owners' notice
// (notify_sub) and the last published item (send_last_published_item).
func (s *Service) subscribed(tx Tx, rc *reqCtx, n *Node, sub Subscription) error {
	if err := s.notifyOwners(tx, rc, n, sub, SubSubscribed); err != nil {
		return err
	}
	if n.Config.SendLastPublished == SendNever {
		return nil
	}
	return s.sendLast(tx, rc, n, sub)
}

func (s *Service) unsubscribe(rc *reqCtx) error {
	ur := rc.req.Unsubscribe
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, aff, err := s.nodeAff(tx, rc, ur.Node)
		if err != nil {
			return nil, err
		}
		j, err := requestedJID(rc, ur.JID, aff == AffOwner)
		if err != nil {
			return nil, err
		}
		mine, err := subsOf(tx, n.Key, j.String(), "")
		if err != nil {
			return nil, err
		}
		subid := ur.SubID
		var sub Subscription
		switch {
		case len(mine) == 0:
			return nil, appErr(stanza.UnexpectedRequest, "not-subscribed", "", "")
		case subid != "":
			i := slices.IndexFunc(mine, func(x Subscription) bool { return x.SubID == subid })
			if i < 0 {
				return nil, appErr(stanza.NotAcceptable, "invalid-subid", "", "")
			}
			sub = mine[i]
		case len(mine) > 1:
			return nil, appErr(stanza.BadRequest, "subid-required", "", "several subscriptions: say which")
		default:
			sub = mine[0]
		}
		if _, err := tx.DeleteSubscription(n.Key, sub.SubID); err != nil {
			return nil, err
		}
		if err := s.notifyOwners(tx, rc, n, sub, "none"); err != nil {
			return nil, err
		}
		return rc.iq.Reply(), nil
	})
}

// subscriptionFor finds the subscription an options request is about
// (XEP-0060 §6.3.4): the requester's own, named by subid when there are
// several.
func subscriptionFor(tx Tx, rc *reqCtx, n *Node, o *optionsEl) (Subscription, error) {
	if o.JID == "" {
		return Subscription{}, appErr(stanza.BadRequest, "jid-required", "", "")
	}
	j, err := validJID(o.JID)
	if err != nil {
		return Subscription{}, err
	}
	if j.Bare().String() != rc.bare {
		return Subscription{}, forbidden("not your subscription")
	}
	mine, err := subsOf(tx, n.Key, j.String(), "")
	if err != nil {
		return Subscription{}, err
	}
	switch {
	case len(mine) == 0:
		return Subscription{}, appErr(stanza.UnexpectedRequest, "not-subscribed", "", "")
	case o.SubID != "":
		for _, x := range mine {
			if x.SubID == o.SubID {
				return x, nil
			}
		}
		return Subscription{}, appErr(stanza.NotAcceptable, "invalid-subid", "", "")
	case len(mine) > 1:
		return Subscription{}, appErr(stanza.BadRequest, "subid-required", "", "")
	}
	return mine[0], nil
}

func optionsElement(node string, sub Subscription) stanza.Element {
	return stanza.NewBuilder("", "options").Attr("node", node).Attr("jid", sub.JID).Attr("subid", sub.SubID).
		Append(formEl(sub.Options.form())).Element()
}

func (s *Service) optionsGet(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.node(tx, rc, rc.req.Options.Node)
		if err != nil {
			return nil, err
		}
		sub, err := subscriptionFor(tx, rc, n, rc.req.Options)
		if err != nil {
			return nil, err
		}
		return rc.result(NS, optionsElement(n.Node, sub)), nil
	})
}

func (s *Service) optionsSet(rc *reqCtx) error {
	f := rc.req.Options.Form
	if f == nil || f.Type != form.TypeSubmit {
		return badRequest("a submitted options form is required", "invalid-options")
	}
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.node(tx, rc, rc.req.Options.Node)
		if err != nil {
			return nil, err
		}
		sub, err := subscriptionFor(tx, rc, n, rc.req.Options)
		if err != nil {
			return nil, err
		}
		if sub.Options, err = sub.Options.merge(f); err != nil {
			return nil, err
		}
		if err := tx.PutSubscription(sub); err != nil {
			return nil, err
		}
		return rc.iq.Reply(), nil
	})
}

func (s *Service) defaultSubOptions(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		b := stanza.NewBuilder("", "default")
		if id, ok := nodeOf(rc.req.Default.Node); ok {
			if _, err := tx.Node(rc.k(id)); err != nil {
				return nil, err
			}
			b.Attr("node", id)
		}
		return rc.result(NS, b.Append(formEl(DefaultSubOptions().form())).Element()), nil
	})
}

// authorizationForm is the subscription approval form sent to owners
// (XEP-0060 §8.6, the pubsub#subscribe_authorization FORM_TYPE).
func authorizationForm(n *Node, sub Subscription) *form.Form {
	return &form.Form{Type: form.TypeForm, Title: "PubSub subscriber request",
		Instructions: []string{"To approve this entity's subscription request, submit with allow checked; to deny it, submit with allow unchecked. Cancel leaves it pending."},
		Fields: []form.Field{
			{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}},
			{Type: form.TextSingle, Var: "pubsub#node", Label: "Node ID", Values: []string{n.Node}},
			{Type: form.JIDSingle, Var: "pubsub#subscriber_jid", Label: "Subscriber Address", Values: []string{sub.JID}},
			{Type: form.TextSingle, Var: "pubsub#subid", Label: "The subscription identifier", Values: []string{sub.SubID}},
			{Type: form.Boolean, Var: "pubsub#allow", Label: "Allow this JID to subscribe to this pubsub node?", Values: []string{form.FormatBool(false)}},
		}}
}

// askOwners queues the approval request of a pending subscription for
// every owner of the node (XEP-0060 §8.6).
func (s *Service) askOwners(tx Tx, rc *reqCtx, n *Node, sub Subscription) error {
	owners, err := s.owners(tx, n)
	if err != nil {
		return err
	}
	for _, o := range owners {
		to, err := jid.Parse(o)
		if err != nil {
			continue
		}
		rc.note(authorizationMessage(rc.svc, to, n, sub))
	}
	return nil
}

func authorizationMessage(from, to jid.JID, n *Node, sub Subscription) *stanza.Stanza {
	m := stanza.NewMessage("", to, sub.JID+" asks to subscribe to "+n.Node+"; the form in this message approves or denies it.")
	m.From = from
	m.AddChild(formEl(authorizationForm(n, sub)))
	return m
}

// handleAuthorization applies an owner's answer to an approval request
// (XEP-0060 §8.6): a submitted pubsub#subscribe_authorization form
// approves (pubsub#allow true) or denies the pending subscription, and the
// subscriber is told; a cancelled form leaves it pending. A form from
// someone who does not own the node is forbidden, one naming no pending
// subscription item-not-found, a malformed one bad-request: nothing
// changes.
func (s *Service) handleAuthorization(ctx context.Context, snd mux.Sender, msg *stanza.Stanza) error {
	if msg.Type == stanza.TypeError {
		return nil
	}
	el, ok := msg.Child(form.NS, "x")
	if !ok {
		return nil
	}
	f, err := form.Parse([]byte(el.XML()))
	if err != nil {
		return badRequest("bad data form: "+err.Error(), "")
	}
	if f.FormType() != FormSubscribeAuth {
		return badRequest("the service takes "+FormSubscribeAuth+" forms in messages", "")
	}
	if f.Type == form.TypeCancel {
		return nil // stays pending (§8.6)
	}
	if f.Type != form.TypeSubmit {
		return badRequest("the form must be submitted", "")
	}
	node, _ := f.Get("pubsub#node")
	subJID, ok, err := f.JID("pubsub#subscriber_jid")
	if err != nil || !ok || node == "" {
		return badRequest("pubsub#node and pubsub#subscriber_jid are required", "")
	}
	allow, ok, err := f.Bool("pubsub#allow")
	if err != nil || !ok {
		return badRequest("pubsub#allow must be a boolean", "")
	}
	subid, _ := f.Get("pubsub#subid")
	rc := &reqCtx{ctx: ctx, iq: msg, snd: snd, from: msg.From, bare: msg.From.Bare().String(), svc: msg.To.DomainJID(), s: s}
	if msg.To.Local() != "" {
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.approver(tx, rc, node)
		if err != nil {
			return nil, err
		}
		if _, err := s.decide(tx, rc, n, subJID.String(), subid, allow); err != nil {
			return nil, err
		}
		return nil, nil
	})
}

// approver reads a node whose subscriptions the requester decides on: it
// must own it.
func (s *Service) approver(tx Tx, rc *reqCtx, id string) (*Node, error) {
	n, err := tx.Node(rc.k(id))
	if err != nil {
		return nil, err
	}
	if a, err := s.affOf(tx, rc, n); err != nil {
		return nil, err
	} else if a != AffOwner {
		return nil, forbidden("only an owner of the node approves its subscriptions")
	}
	return n, nil
}

// decide approves or denies the pending subscription of j (its subid, if
// given) and tells the subscriber; it returns the subscription.
func (s *Service) decide(tx Tx, rc *reqCtx, n *Node, j, subid string, allow bool) (Subscription, error) {
	subs, err := tx.Subscriptions(n.Key)
	if err != nil {
		return Subscription{}, err
	}
	i := slices.IndexFunc(subs, func(x Subscription) bool {
		return x.State == SubPending && x.JID == j && (subid == "" || x.SubID == subid)
	})
	if i < 0 {
		return Subscription{}, itemNotFound("no pending subscription of " + j + " to " + n.Node)
	}
	sub := subs[i]
	if !allow {
		if _, err := tx.DeleteSubscription(n.Key, sub.SubID); err != nil {
			return sub, err
		}
		s.notifySubscription(rc, n, sub, "none")
		return sub, nil
	}
	sub.State = SubSubscribed
	if err := tx.PutSubscription(sub); err != nil {
		return sub, err
	}
	s.notifySubscription(rc, n, sub, SubSubscribed)
	return sub, s.subscribed(tx, rc, n, sub)
}

// pendingOf returns the pending subscriptions of a node.
func pendingOf(tx Tx, k Key) ([]Subscription, error) {
	subs, err := tx.Subscriptions(k)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(subs, func(x Subscription) bool { return x.State != SubPending }), nil
}
