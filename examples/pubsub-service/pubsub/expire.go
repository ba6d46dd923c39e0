package pubsub

import (
	"context"
	"time"

	"xmppkit.dev/stanza"
)

// expireLoop removes the items past their node's pubsub#item_expire
// (XEP-0060 §16.4.4) every interval; until then they are not served.
func (s *Service) expireLoop(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.expireOnce(); err != nil {
				s.log.Warn("pubsub: removing expired items", "err", err)
			}
		}
	}
}

// expireBatch bounds the items one expiry transaction removes.
const expireBatch = 1000

// expireOnce removes expired items, at most expireBatch per node.
func (s *Service) expireOnce() error {
	type doomed struct {
		k   Key
		ids []string
	}
	var work []doomed
	err := s.store.Read(context.Background(), func(tx Tx) error {
		keys, err := tx.ExpiringNodes()
		if err != nil {
			return err
		}
		for _, k := range keys {
			n, err := tx.Node(k)
			if err != nil {
				continue
			}
			old, err := tx.Items(k, ItemQuery{OldestFirst: true, Limit: expireBatch})
			if err != nil {
				return err
			}
			d := doomed{k: k}
			for _, it := range old {
				if !s.expired(n, it) {
					break
				}
				d.ids = append(d.ids, it.ID)
			}
			if len(d.ids) > 0 {
				work = append(work, d)
			}
		}
		return nil
	})
	if err != nil || len(work) == 0 {
		return err
	}
	rc := &reqCtx{ctx: context.Background(), s: s}
	_, err = s.commit(rc, func(tx Tx) (*stanza.Stanza, error) {
		for _, d := range work {
			n, err := tx.Node(d.k)
			if err != nil {
				continue
			}
			found, err := tx.Items(d.k, ItemQuery{IDs: d.ids})
			if err != nil {
				return nil, err
			}
			for _, it := range found {
				if s.expired(n, it) {
					if _, err := tx.DeleteItem(d.k, it.ID); err != nil {
						return nil, err
					}
				}
			}
		}
		return nil, nil
	})
	return err
}
