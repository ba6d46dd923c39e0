package dial_test

import (
	"context"
	"fmt"
	"time"

	"xmppkit.dev/dial"
)

// DialClient finds the client service of a domain through its SRV records
// (direct TLS first where the priorities say so) and connects.
func ExampleDialer_DialClient() {
	d := &dial.Dialer{Timeout: 5 * time.Second}
	conn, target, err := d.DialClient(context.Background(), "example.net")
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer conn.Close()
	fmt.Println("connected to", target.Addr(), "direct TLS:", target.DirectTLS)
}

// A component connects to a configured host and port (XEP-0114).
func ExampleDialer_DialContext() {
	d := &dial.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:5347")
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer conn.Close()
}
