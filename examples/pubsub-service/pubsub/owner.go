package pubsub

import (
	"maps"

	"xmppkit.dev/stanza"
)

func (s *Service) manageSubscriptionsGet(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Subscriptions.Node)
		if err != nil {
			return nil, err
		}
		subs, err := tx.Subscriptions(n.Key)
		if err != nil {
			return nil, err
		}
		b := stanza.NewBuilder("", "subscriptions").Attr("node", n.Node)
		for _, sub := range subs {
			if sub.State == SubPending {
				continue // §8.8.1: SHOULD NOT list pending ones (get-pending does)
			}
			b.Append(subscriptionEl(NSOwner, "", sub))
		}
		return rc.result(NSOwner, b.Element()), nil
	})
}

// manageSubscriptionsSet applies an owner's changes to subscriptions
// (XEP-0060 §8.8.2): none removes, subscribed adds one or approves a
// pending one; each subscriber is told (§8.8.4). An invalid entry fails
// the whole request, changing nothing.
func (s *Service) manageSubscriptionsSet(rc *reqCtx) error {
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Subscriptions.Node)
		if err != nil {
			return nil, err
		}
		for _, e := range rc.req.Subscriptions.Subscription {
			j, err := validJID(e.JID)
			if err != nil {
				return nil, err
			}
			key := j.String()
			has, err := subsOf(tx, n.Key, key, e.SubID)
			if err != nil {
				return nil, err
			}
			switch e.Subscription {
			case "none":
				for _, x := range has {
					if _, err := tx.DeleteSubscription(n.Key, x.SubID); err != nil {
						return nil, err
					}
					s.notifySubscription(rc, n, x, "none")
				}
			case SubSubscribed:
				switch a, err := tx.Affiliation(n.Key, j.Bare().String()); {
				case err != nil:
					return nil, err
				case a == AffOutcast || a == AffPublishOnly:
					return nil, stanza.NewError(stanza.NotAcceptable, key+" is "+a+": it cannot be subscribed")
				}
				pending := false
				for _, x := range has {
					if x.State == SubPending {
						pending = true
						if _, err := s.decide(tx, rc, n, key, x.SubID, true); err != nil {
							return nil, err
						}
					}
				}
				if len(has) == 0 && !pending {
					if err := s.checkGrowth(tx, growth{bytes: subCost(key), subs: 1}); err != nil {
						return nil, err
					}
					sub := Subscription{Key: n.Key, JID: key, SubID: stanza.NewID(), State: SubSubscribed, Options: DefaultSubOptions(), Created: s.timeNow()}
					if err := tx.PutSubscription(sub); err != nil {
						return nil, err
					}
					s.notifySubscription(rc, n, sub, SubSubscribed)
				}
			case "":
				// §8.8.2: no subscription attribute changes nothing.
			default:
				return nil, badRequest("subscription must be subscribed or none", "")
			}
		}
		return rc.iq.Reply(), nil
	})
}

func (s *Service) manageAffiliationsGet(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Affiliations.Node)
		if err != nil {
			return nil, err
		}
		affs, err := tx.Affiliations(n.Key)
		if err != nil {
			return nil, err
		}
		b := stanza.NewBuilder("", "affiliations").Attr("node", n.Node)
		for _, a := range affs {
			b.Child("", "affiliation").Attr("jid", a.JID).Attr("affiliation", a.Affiliation).End()
		}
		return rc.result(NSOwner, b.Element()), nil
	})
}

// manageAffiliationsSet applies an owner's changes to affiliations
// (XEP-0060 §8.9.2). A node keeps at least one owner. Pending subscriptions
// of an entity made owner or publisher are approved, of one made outcast
// denied (§8.7 note), and an outcast loses its subscriptions.
func (s *Service) manageAffiliationsSet(rc *reqCtx) error {
	return s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.ownerNode(tx, rc, rc.req.Affiliations.Node)
		if err != nil {
			return nil, err
		}
		affs, err := tx.Affiliations(n.Key)
		if err != nil {
			return nil, err
		}
		next := map[string]string{}
		for _, a := range affs {
			next[a.JID] = a.Affiliation
		}
		var changes []Affiliation
		for _, e := range rc.req.Affiliations.Affiliation {
			j, err := validJID(e.JID)
			if err != nil {
				return nil, err
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
			changes = append(changes, Affiliation{Key: n.Key, JID: key, Affiliation: e.Affiliation})
		}
		owners := 0
		for v := range maps.Values(next) {
			if v == AffOwner {
				owners++
			}
		}
		if owners == 0 && n.Service == "" {
			return nil, stanza.NewError(stanza.NotAcceptable, "a node must keep an owner")
		}
		for _, c := range changes {
			if err := s.checkStore(tx, affCost(c.JID)); err != nil {
				return nil, err
			}
			if err := tx.SetAffiliation(c); err != nil {
				return nil, err
			}
			if err := s.affiliationChanged(tx, rc, n, c); err != nil {
				return nil, err
			}
		}
		return rc.iq.Reply(), nil
	})
}

// affiliationChanged applies what an affiliation change means for the
// entity's subscriptions.
func (s *Service) affiliationChanged(tx Tx, rc *reqCtx, n *Node, c Affiliation) error {
	subs, err := tx.Subscriptions(n.Key)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if bareOf(sub.JID) != c.JID {
			continue
		}
		switch {
		case c.Affiliation == AffOutcast || c.Affiliation == AffPublishOnly:
			if _, err := tx.DeleteSubscription(n.Key, sub.SubID); err != nil {
				return err
			}
			s.notifySubscription(rc, n, sub, "none")
		case sub.State == SubPending && (c.Affiliation == AffOwner || c.Affiliation == AffPublisher):
			if _, err := s.decide(tx, rc, n, sub.JID, sub.SubID, true); err != nil {
				return err
			}
		}
	}
	return nil
}
