package pubsub

import (
	"fmt"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// formEl encodes a data form (package form) as a payload element.
func formEl(f *form.Form) stanza.Element {
	el, err := stanza.MarshalElement(f)
	if err != nil {
		panic(err) // a form built here always encodes
	}
	return el
}

// env returns what a configuration is checked against for nodes owned by
// owner (a bare JID): the limits, and the access models the service can
// apply for it (presence and roster only with the roster permission of
// the owner's server, XEP-0356 §3).
func (s *Service) env(owner string) configEnv {
	e := configEnv{maxItems: s.limits.MaxItemsPerNode, maxPayload: s.limits.MaxItemBytes,
		models: []string{AccessOpen, AccessAuthorize, AccessWhitelist}}
	if ok, why := s.canReadRosters(owner); ok {
		e.models = []string{AccessOpen, AccessPresence, AccessRoster, AccessAuthorize, AccessWhitelist}
		if r, ok := s.rosters.get(owner); ok {
			e.groups = r.groups()
		}
	} else {
		e.modelsNote = why
	}
	return e
}

func (s *Service) defaultConfigFor(rc *reqCtx) Config {
	if rc.pep {
		return PEPConfig()
	}
	return DefaultConfig()
}

// node reads the node named by the attribute, or the XEP-0060 error.
func (s *Service) node(tx Tx, rc *reqCtx, attr *string) (*Node, error) {
	id, ok := nodeOf(attr)
	if !ok {
		return nil, nodeIDRequired()
	}
	n, err := tx.Node(rc.k(id))
	if err != nil {
		return nil, err
	}
	return n, nil
}

// affOf is the requester's affiliation with the node; admins, and the
// account at its own PEP service, are owners.
func (s *Service) affOf(tx Tx, rc *reqCtx, n *Node) (string, error) {
	if rc.admin() || rc.pep && rc.bare == rc.key {
		return AffOwner, nil
	}
	return tx.Affiliation(n.Key, rc.bare)
}

// nodeAff reads the node named by the attribute and the requester's
// affiliation with it.
func (s *Service) nodeAff(tx Tx, rc *reqCtx, attr *string) (*Node, string, error) {
	n, err := s.node(tx, rc, attr)
	if err != nil {
		return nil, "", err
	}
	a, err := s.affOf(tx, rc, n)
	return n, a, err
}

// subsOf returns the subscriptions of a node held by exactly the JID j
// (as subscribed), and of them the one with the subid when it is not "".
func subsOf(tx Tx, k Key, j, subid string) ([]Subscription, error) {
	subs, err := tx.Subscriptions(k)
	if err != nil {
		return nil, err
	}
	var out []Subscription
	for _, x := range subs {
		if x.JID == j && (subid == "" || x.SubID == subid) {
			out = append(out, x)
		}
	}
	return out, nil
}

// ownerNode reads the node and checks that the requester owns it.
func (s *Service) ownerNode(tx Tx, rc *reqCtx, attr *string) (*Node, error) {
	n, a, err := s.nodeAff(tx, rc, attr)
	if err != nil {
		return nil, err
	}
	if a != AffOwner {
		return nil, forbidden("only an owner may do this")
	}
	return n, nil
}

// mayCreateNode checks who may create nodes here (XEP-0060 §8.1.3.1).
func (s *Service) mayCreateNode(rc *reqCtx) error {
	switch {
	case rc.pep && rc.bare != rc.key:
		return forbidden("only the account creates nodes at its own address")
	case !rc.pep && s.mayCreate != nil && !s.mayCreate(rc.from) && !rc.admin():
		return forbidden("not allowed to create nodes")
	}
	return nil
}

// createNode adds a node owned by the requester, within the limits.
func (s *Service) createNode(tx Tx, rc *reqCtx, id string, cfg Config) error {
	if err := s.checkNodes(tx, rc.bare); err != nil {
		return err
	}
	k := rc.k(id)
	if err := s.checkGrowth(tx, growth{bytes: nodeCost(k) + affCost(rc.bare), nodes: 1}); err != nil {
		return err
	}
	if err := tx.CreateNode(&Node{Key: k, Config: cfg, Created: s.timeNow(), Creator: rc.bare}); err != nil {
		return err
	}
	return tx.SetAffiliation(Affiliation{Key: k, JID: rc.bare, Affiliation: AffOwner})
}

func (s *Service) create(rc *reqCtx) error {
	if err := s.mayCreateNode(rc); err != nil {
		return err
	}
	id, named := nodeOf(rc.req.Create.Node)
	if !named {
		if rc.pep {
			return nodeIDRequired()
		}
		id = stanza.NewID() // instant node (XEP-0060 §8.1.2)
	}
	if len(id) > MaxIDBytes {
		return stanza.NewError(stanza.NotAcceptable, "node id too long")
	}
	cfg := s.defaultConfigFor(rc)
	if c := rc.req.Configure; c != nil && c.Form != nil && c.Form.Type != form.TypeCancel {
		var err error
		if cfg, err = cfg.merge(c.Form, s.env(rc.bare)); err != nil {
			return err
		}
	}
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		if err := s.createNode(tx, rc, id, cfg); err != nil {
			return nil, err
		}
		return rc.result(NS, stanza.NewBuilder("", "create").Attr("node", id).Element()), nil
	})
}

func (s *Service) configureGet(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Configure.Node)
		if err != nil {
			return nil, err
		}
		el := stanza.NewBuilder("", "configure").Attr("node", n.Node).
			Append(formEl(n.Config.form(form.TypeForm, s.env(n.Creator)))).Element()
		return rc.result(NSOwner, el), nil
	})
}

func (s *Service) defaultConfig(rc *reqCtx) error {
	f := s.defaultConfigFor(rc).form(form.TypeForm, s.env(rc.bare))
	return rc.snd.Send(rc.ctx, rc.result(NSOwner, stanza.NewBuilder("", "default").Append(formEl(f)).Element()))
}

func (s *Service) configureSet(rc *reqCtx) error {
	f := rc.req.Configure.Form
	if f == nil {
		return badRequest("a data form is required", "")
	}
	switch f.Type {
	case form.TypeCancel, form.TypeSubmit:
	default:
		return badRequest("the form must be of type submit", "")
	}
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Configure.Node)
		if err != nil || f.Type == form.TypeCancel {
			return rc.iq.Reply(), err
		}
		env := s.env(n.Creator)
		cfg, err := n.Config.merge(f, env)
		if err != nil {
			return nil, err
		}
		if err := s.reconfigure(tx, rc, n, cfg); err != nil {
			return nil, err
		}
		return rc.iq.Reply(), nil
	})
}

// reconfigure stores a node's new configuration and applies what changes
// with it: items beyond the new max_items or persist_items, subscribers
// that a whitelist shuts out, the configuration notification (§8.2.5.2).
func (s *Service) reconfigure(tx Tx, rc *reqCtx, n *Node, cfg Config) error {
	if err := tx.SetConfig(n.Key, cfg); err != nil {
		return err
	}
	old := n.Config
	n.Config = cfg
	if !cfg.PersistItems {
		if err := tx.Purge(n.Key); err != nil {
			return err
		}
	} else if err := s.trim(tx, n); err != nil {
		return err
	}
	if cfg.AccessModel == AccessWhitelist && old.AccessModel != AccessWhitelist {
		// A whitelist keeps only affiliated subscribers (XEP-0060 §4.5).
		subs, err := tx.Subscriptions(n.Key)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			a, err := tx.Affiliation(n.Key, bareOf(sub.JID))
			if err != nil {
				return err
			}
			if a == AffNone || a == AffOutcast || a == AffPublishOnly {
				if _, err := tx.DeleteSubscription(n.Key, sub.SubID); err != nil {
					return err
				}
				s.notifySubscription(rc, n, sub, "none")
			}
		}
	}
	if cfg.NotifyConfig && cfg.DeliverNotifications {
		b := stanza.NewBuilder(NSEvent, "event").Child("", "configuration").Attr("node", n.Node)
		if cfg.DeliverPayloads {
			b.Append(formEl(cfg.form(form.TypeResult, s.env(n.Creator))))
		}
		return s.notify(tx, rc, n, b.Element(), notifyOpts{pep: true})
	}
	return nil
}

// trim removes the oldest items beyond the node's max_items.
func (s *Service) trim(tx Tx, n *Node) error {
	count, _, err := tx.ItemStats(n.Key)
	if err != nil {
		return err
	}
	max := s.env(n.Creator).maxItemsOf(n.Config)
	if count <= max {
		return nil
	}
	old, err := tx.Items(n.Key, ItemQuery{OldestFirst: true, Limit: count - max})
	if err != nil {
		return err
	}
	for _, it := range old {
		if _, err := tx.DeleteItem(n.Key, it.ID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) deleteNode(rc *reqCtx) error {
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Delete.Node)
		if err != nil {
			return nil, err
		}
		if err := s.removeNode(tx, rc, n, rc.req.Delete.redirect()); err != nil {
			return nil, err
		}
		return rc.iq.Reply(), nil
	})
}

// removeNode deletes a node, telling its subscribers (XEP-0060 §8.4.2:
// every one, also those who asked for no notifications) when
// notify_delete is set.
func (s *Service) removeNode(tx Tx, rc *reqCtx, n *Node, redirect string) error {
	if n.Config.NotifyDelete {
		b := stanza.NewBuilder(NSEvent, "event").Child("", "delete").Attr("node", n.Node)
		if redirect != "" {
			b.Child("", "redirect").Attr("uri", redirect).End()
		}
		if err := s.notify(tx, rc, n, b.Element(), notifyOpts{all: true, pep: true}); err != nil {
			return err
		}
	}
	return tx.DeleteNode(n.Key)
}

func (s *Service) purge(rc *reqCtx) error {
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.node(tx, rc, rc.req.Purge.Node)
		if err != nil {
			return nil, err
		}
		// Owners, and publishers (XEP-0060 §4.1), may purge.
		if a, err := s.affOf(tx, rc, n); err != nil {
			return nil, err
		} else if a != AffOwner && a != AffPublisher {
			return nil, forbidden("only owners and publishers may purge")
		}
		if !n.Config.PersistItems {
			return nil, unsupported("persistent-items")
		}
		if err := tx.Purge(n.Key); err != nil {
			return nil, err
		}
		if n.Config.DeliverNotifications {
			ev := stanza.NewBuilder(NSEvent, "event").Child("", "purge").Attr("node", n.Node).Element()
			if err := s.notify(tx, rc, n, ev, notifyOpts{}); err != nil {
				return nil, err
			}
		}
		return rc.iq.Reply(), nil
	})
}

// validJID parses a JID attribute: jid-malformed for a bad one.
func validJID(raw string) (jid.JID, error) {
	j, err := jid.Parse(raw)
	if err != nil {
		return jid.JID{}, stanza.NewError(stanza.JIDMalformed, fmt.Sprintf("bad jid %q", raw))
	}
	return j, nil
}
