package bridge_test

import (
	"os"
	"testing"

	"xmppkit.dev/router"
)

func tap(t *testing.T, r *router.Router) {
	if os.Getenv("BRIDGE_TAP") == "" {
		return
	}
	rm := r.Tap(func(tr *router.Traffic) { t.Logf("%s", tr.XML) })
	t.Cleanup(rm)
}
