package daemon

import (
	"net"
	"os"
	"strings"
)

// Notify sends state to the service manager when it asked for it (systemd's
// Type=notify sets $NOTIFY_SOCKET; sd_notify(3)): "READY=1" once the
// service is up, "STOPPING=1" when it shuts down, "STATUS=..." for
// systemctl status. Without $NOTIFY_SOCKET it does nothing.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
