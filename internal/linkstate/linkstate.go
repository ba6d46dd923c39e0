// Package linkstate holds what packages privilege and delegation share
// about state a server grants for the life of a link: who may speak for
// the server, and a change notification to wait on.
package linkstate

import (
	"context"
	"slices"
	"strings"
	"sync"

	"xmppkit.dev/jid"
)

// IsServer reports whether from may speak for a server to the component
// at to: a domain JID (no localpart, no resource) in servers, or, when
// servers is empty, the parent domain of to ("localhost" for
// "pubsub.localhost").
func IsServer(servers []jid.JID, from, to jid.JID) bool {
	if from.IsZero() || from.Local() != "" || from.Resource() != "" {
		return false
	}
	if len(servers) > 0 {
		return slices.ContainsFunc(servers, from.Equal)
	}
	d := to.Domain()
	i := strings.IndexByte(d, '.')
	return i > 0 && from.Domain() == d[i+1:]
}

// Notifier hands out a channel that is closed at the next change. Its zero
// value is ready to use; it is safe for concurrent use.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns the channel closed at the next Notify.
func (n *Notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify closes the current channel: every waiter wakes up.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
	}
	n.ch = make(chan struct{})
}

// Wait waits until cond holds, checking it at each change, or returns
// ctx's error.
func (n *Notifier) Wait(ctx context.Context, cond func() bool) error {
	for {
		ch := n.Changed()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
