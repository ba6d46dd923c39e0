package pubsub_test

import (
	"testing"

	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/examples/pubsub-service/pubsub/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{Open: func(*testing.T) pubsub.Store { return pubsub.NewMemoryStore() }})
}

func TestFileStoreConformance(t *testing.T) {
	dirs := map[pubsub.Store]string{}
	open := func(t *testing.T, dir string) pubsub.Store {
		fs, err := pubsub.OpenFileStore(dir, true)
		if err != nil {
			t.Fatal(err)
		}
		// Small segments and frequent compaction, so that the suite runs
		// through both.
		fs.SegmentBytes = 64 << 10
		dirs[fs] = dir
		return fs
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T) pubsub.Store { return open(t, t.TempDir()) },
		Reopen: func(t *testing.T, s pubsub.Store) pubsub.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dirs[s])
		},
	})
}
