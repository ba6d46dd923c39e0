package version_test

import (
	"context"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/version"
)

func Example() {
	m := mux.New()
	version.Handler{Info: version.Info{Name: "pubsub-service", Version: "1.2.0"}}.Register(m)

	s := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
	info, err := version.Get(context.Background(), s, jid.MustParse("pubsub.montague.lit"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s (os %q)\n", info.Name, info.Version, info.OS)
	// Output:
	// pubsub-service 1.2.0 (os "")
}
