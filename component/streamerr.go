package component

import (
	"errors"
	"net"
	"os"
	"time"

	"xmppkit.dev/stream"
)

// errorWriteWait bounds the write of a stream error to a server that sent
// bad input: it may not be reading.
const errorWriteWait = time.Second

// streamErrorFor returns the stream error and closing tag the component owes
// the server after the Reader's error err (RFC 6120 §4.9.1.1: the entity that
// detects a stream error sends it, then closes its stream): the condition of
// bad input the Reader detected locally (not-well-formed, restricted-xml,
// policy-violation ...), or connection-timeout when the server did not
// answer in time during the handshake. It returns nil for any other error
// (EOF, a broken connection, the server's own stream error): nothing to
// answer.
func streamErrorFor(err error) []byte {
	var se *stream.Error
	switch {
	case errors.As(err, &se) && !se.Remote:
	case errors.Is(err, os.ErrDeadlineExceeded):
		se = stream.NewError(stream.ConnectionTimeout, "no answer from the server in time")
	default:
		return nil
	}
	return append(se.AppendXML(nil), stream.CloseTag...)
}

// sendStreamError writes the stream error owed for err (see streamErrorFor)
// on conn, within errorWriteWait. The connection is closed by the caller.
func sendStreamError(conn net.Conn, err error) {
	b := streamErrorFor(err)
	if b == nil {
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(errorWriteWait))
	_, _ = conn.Write(b)
}

// fail ends the link after the Reader's final error err. When the server
// sent bad input, the component first sends the matching stream error and
// closes its stream, so that the server's log says why (a write in
// progress is given errorWriteWait; nothing queued is written after it);
// then the link is declared dead and Run reconnects as for any other link
// loss.
func (l *link) fail(err error) {
	cause := l.readError(err)
	if b := streamErrorFor(err); b != nil && l.ctx.Err() == nil {
		l.s.w.Final(l.conn, b, errorWriteWait)
		l.closeSent.Store(true)
	}
	l.die(cause)
}
