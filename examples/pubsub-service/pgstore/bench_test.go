package pgstore_test

import (
	"fmt"
	"sync"
	"testing"

	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// BenchmarkPublish publishes through the service from 16 clients at once
// on the in-process router, on PostgreSQL (the shared throwaway server:
// fsync off, synchronous_commit on) and on a FileStore with fsync, for
// ratios in one run:
//
//	go test -run XXX -bench BenchmarkPublish -benchtime 4000x ./examples/pubsub-service/pgstore/
func BenchmarkPublish(b *testing.B) {
	srv := servertest.Shared(b, servertest.KindPostgres)
	for _, name := range []string{"postgres", "file-fsync"} {
		b.Run(name, func(b *testing.B) {
			var st pubsub.Store
			if name == "postgres" {
				st = open(b, srv.Database(b))
			} else {
				fs, err := pubsub.OpenFileStore(b.TempDir(), false)
				if err != nil {
					b.Fatal(err)
				}
				st = fs
			}
			x := serve(b, st, "b")
			const publishers = 16
			clients := make([]*xmpptest.Client, publishers)
			for i := range clients {
				clients[i] = x.Client(fmt.Sprintf("p%d", i))
			}
			payload := stanza.TextElement("urn:test", "n", "a short payload")
			b.ResetTimer()
			var wg sync.WaitGroup
			for p, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := p; i < b.N; i += publishers {
						if _, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, x.Service, pubsub.PublishRequest("b", fmt.Sprint(i), payload, nil))); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
		})
	}
}
