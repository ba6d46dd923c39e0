package pubsub

import (
	"context"
	"sync"
)

// MemoryStore is a Store that keeps everything in memory: the state lives
// and dies with the process. For tests and throwaway services; it is the
// reference implementation of the Store contract (transactions are
// serialized by one lock; a failed one is undone).
type MemoryStore struct {
	mu     sync.RWMutex
	ix     *index
	closed bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{ix: newIndex()} }

// Read implements Store.
func (m *MemoryStore) Read(ctx context.Context, fn func(Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrStoreClosed
	}
	return fn(&itx{ix: m.ix})
}

// Write implements Store: the transaction is "durable" when Write returns.
func (m *MemoryStore) Write(ctx context.Context, fn func(Tx) error) (func() error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrStoreClosed
	}
	tx := &itx{ix: m.ix, write: true}
	if err := fn(tx); err != nil {
		tx.rollback()
		return nil, err
	}
	tx.done()
	return noWait, nil
}

// Close implements Store.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
