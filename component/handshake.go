package component

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"xmppkit.dev/stream"
)

// handshakeDigest returns the lowercase hex SHA-1 of the stream id followed
// by the secret (XEP-0114 §3).
func handshakeDigest(id, secret string) string {
	h := sha1.New()
	io.WriteString(h, id)
	io.WriteString(h, secret)
	return hex.EncodeToString(h.Sum(nil))
}

// appendHandshake appends <handshake>digest</handshake> to dst.
func appendHandshake(dst []byte, id, secret string) []byte {
	dst = append(dst, "<handshake>"...)
	dst = append(dst, handshakeDigest(id, secret)...)
	return append(dst, "</handshake>"...)
}

// stanzaIDGrace is how long the handshake waits, after a header without id,
// for the stream error that usually follows it (Prosody answers an unknown
// domain with id=” and then host-unknown).
const stanzaIDGrace = time.Second

// handshake runs the XEP-0114 §3 exchange on conn under deadline and returns
// the reader positioned after <handshake/> and the stream id.
func handshake(conn net.Conn, domain, secret string, deadline time.Time, limits stream.Limits) (*stream.Reader, string, error) {
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, "", netErr("set deadline", err)
	}
	hdr := stream.Header{NS: stream.NSComponent, To: domain}
	if _, err := conn.Write(hdr.AppendXML(nil)); err != nil {
		return nil, "", netErr("send stream header", err)
	}
	rd := stream.NewReader(conn, stream.ReaderOptions{Limits: limits})
	h, err := rd.ReadHeader()
	if err != nil {
		sendStreamError(conn, err)
		return nil, "", readErr("reading the server's stream header", err)
	}
	if h.NS != stream.NSComponent {
		// The server may still explain itself with a stream error.
		if serr := lookForStreamError(conn, rd, deadline); serr != nil {
			return nil, "", serr
		}
		return nil, "", fmt.Errorf("%w: stream header in namespace %q, want %q", ErrBadServer, h.NS, stream.NSComponent)
	}
	if h.ID == "" {
		if serr := lookForStreamError(conn, rd, deadline); serr != nil {
			return nil, "", serr
		}
		return nil, "", fmt.Errorf("%w: stream header without id", ErrBadServer)
	}
	if _, err := conn.Write(appendHandshake(nil, h.ID, secret)); err != nil {
		return nil, "", netErr("send handshake", err)
	}
	el, err := rd.Next()
	if err != nil {
		sendStreamError(conn, err)
		return nil, "", readErr("waiting for <handshake/>", err)
	}
	if !el.Is(stream.NSComponent, "handshake") {
		space, local := el.Name()
		return nil, "", fmt.Errorf("%w: got <%s xmlns='%s'/> in place of <handshake/>", ErrBadServer, local, space)
	}
	if txt, err := el.Text(); err != nil || txt != "" {
		return nil, "", fmt.Errorf("%w: <handshake/> answer is not empty", ErrBadServer)
	}
	// Authenticated. If the connection died meanwhile, clearing the
	// deadline fails; the session's reader reports that.
	_ = conn.SetDeadline(time.Time{})
	return rd, h.ID, nil
}

// lookForStreamError reads one more element within a short grace period and
// returns it if it is a stream error from the server.
func lookForStreamError(conn net.Conn, rd *stream.Reader, deadline time.Time) error {
	grace := time.Now().Add(stanzaIDGrace)
	if grace.After(deadline) {
		grace = deadline
	}
	_ = conn.SetReadDeadline(grace)
	_, err := rd.Next()
	var se *stream.Error
	if errors.As(err, &se) && se.Remote {
		return fmt.Errorf("component: handshake: %w", se)
	}
	return nil
}

// readErr classifies an error from the Reader during the handshake.
func readErr(what string, err error) error {
	var se *stream.Error
	switch {
	case errors.As(err, &se) && se.Remote:
		return fmt.Errorf("component: handshake: %w", se)
	case errors.As(err, &se):
		// Malformed input, detected locally.
		return fmt.Errorf("%w: %s: %w", ErrBadServer, what, se)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: server closed the stream %s", ErrDisconnected, what)
	}
	return netErr(what, err)
}

// netErr wraps a transport error as ErrDisconnected.
func netErr(what string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: timeout %s: %w", ErrDisconnected, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrDisconnected, what, err)
}
