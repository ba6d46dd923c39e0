package admin_test

import (
	"context"
	"fmt"

	"xmppkit.dev/command"
	"xmppkit.dev/command/admin"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
)

// A gateway offers its administrators the online-users commands; nobody
// else sees them.
func Example() {
	online := []jid.JID{jid.MustParse("alice@example.com"), jid.MustParse("bob@example.com")}
	var reg command.Registry
	admin.Commands{
		IsAdmin:     func(e jid.JID) bool { return e.String() == "root@example.com" },
		OnlineUsers: func(context.Context) ([]jid.JID, error) { return online, nil },
	}.Add(&reg)
	m := mux.New()
	reg.Register(m)

	svc := jid.MustParse("gw.example.com")
	root := &muxtest.Loopback{Handler: m, From: jid.MustParse("root@example.com/console")}
	st, err := command.Execute(context.Background(), root, svc, admin.NodeOnlineUsersNum)
	if err != nil {
		panic(err)
	}
	n, _ := st.Form.Get("onlineusersnum")
	fmt.Println(st.Status, n)
	fmt.Println(len(reg.List(jid.MustParse("alice@example.com/phone"), svc)), "commands for alice")
	// Output:
	// completed 2
	// 0 commands for alice
}
