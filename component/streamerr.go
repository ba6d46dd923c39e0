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

// fail ends the session after the Reader's final error err. When the server
// sent bad input, the component first sends the matching stream error and
// closes its stream, so that the server's log says why; then the link is
// declared dead and Run reconnects as for any other link loss.
func (s *session) fail(err error) {
	cause := s.readError(err)
	var se *stream.Error
	if !errors.As(err, &se) || se.Remote {
		s.die(cause)
		return
	}
	if !s.wmu.TryLock() {
		// The writer is in a write, maybe stuck on a server that does not
		// read: bound it, then wait for it.
		_ = s.conn.SetWriteDeadline(time.Now().Add(errorWriteWait))
		s.wmu.Lock()
	}
	defer s.wmu.Unlock()
	if s.ctx.Err() == nil && !s.errSent {
		sendStreamError(s.conn, err)
		s.closeSent.Store(true)
		s.errSent = true
	}
	s.die(cause)
}
