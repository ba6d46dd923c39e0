package irc

import (
	"errors"
	"strings"
)

// MaxLine is the longest line, CRLF included, that RFC 2812 §2.3 allows a
// client to send; ngircd disconnects a client whose line is longer.
const MaxLine = 512

// Errors returned by Parse for lines that are not IRC messages
// (RFC 2812 §2.3.1).
var (
	ErrEmpty     = errors.New("irc: empty line")
	ErrNoCommand = errors.New("irc: no command")
	ErrBadTags   = errors.New("irc: malformed message tags")
	// ErrBadCommand: a command that is neither letters nor digits.
	ErrBadCommand = errors.New("irc: malformed command")
)

// Message is one IRC message (RFC 2812 §2.3.1) with its IRCv3 tags:
// @tags :prefix COMMAND params... :trailing.
type Message struct {
	// Tags are the IRCv3 message tags (unescaped values); nil when none.
	Tags map[string]string
	// Prefix is the origin: a server name or nick!user@host; "" when absent.
	Prefix string
	// Command is the command or three-digit numeric reply, upper-cased.
	Command string
	// Params are the parameters, the trailing one included.
	Params []string
}

// Parse parses one line (with or without its CRLF) as an IRC message
// (RFC 2812 §2.3.1, IRCv3 message-tags). It never panics; a line that is not
// a message gives ErrEmpty, ErrNoCommand or ErrBadTags.
func Parse(line string) (*Message, error) {
	line = strings.TrimRight(line, "\r\n")
	line = strings.TrimLeft(line, " ")
	if line == "" {
		return nil, ErrEmpty
	}
	m := &Message{}
	if line[0] == '@' {
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			return nil, ErrNoCommand
		}
		tags, err := parseTags(line[1:sp])
		if err != nil {
			return nil, err
		}
		m.Tags = tags
		line = strings.TrimLeft(line[sp:], " ")
	}
	if line != "" && line[0] == ':' {
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			return nil, ErrNoCommand
		}
		m.Prefix = line[1:sp]
		line = strings.TrimLeft(line[sp:], " ")
	}
	if line == "" {
		return nil, ErrNoCommand
	}
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		sp = len(line)
	}
	if !isCommand(line[:sp]) {
		return nil, ErrBadCommand
	}
	m.Command = strings.ToUpper(line[:sp])
	line = line[sp:]
	for {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			break
		}
		if line[0] == ':' {
			m.Params = append(m.Params, line[1:])
			break
		}
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			m.Params = append(m.Params, line)
			break
		}
		m.Params = append(m.Params, line[:sp])
		line = line[sp:]
	}
	return m, nil
}

// isCommand reports whether s is a command or numeric (RFC 2812 §2.3.1:
// letters, or three digits; any mix of letters and digits is accepted).
func isCommand(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < 'a' || c > 'z') && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

func parseTags(s string) (map[string]string, error) {
	if s == "" {
		return nil, ErrBadTags
	}
	tags := make(map[string]string)
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, ErrBadTags
		}
		tags[k] = unescapeTag(v)
	}
	return tags, nil
}

// unescapeTag undoes the IRCv3 tag value escaping (\: \s \\ \r \n).
func unescapeTag(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break // a lone trailing backslash is dropped
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

func escapeTag(v string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\:`, " ", `\s`, "\r", `\r`, "\n", `\n`)
	return r.Replace(v)
}

// Nick returns the nick of a nick!user@host prefix, or the whole prefix
// (a server name).
func (m *Message) Nick() string {
	if i := strings.IndexByte(m.Prefix, '!'); i >= 0 {
		return m.Prefix[:i]
	}
	if i := strings.IndexByte(m.Prefix, '@'); i >= 0 {
		return m.Prefix[:i]
	}
	return m.Prefix
}

// FromServer reports whether the prefix names a server rather than a user
// (no '!' or '@' in it).
func (m *Message) FromServer() bool {
	return !strings.ContainsAny(m.Prefix, "!@")
}

// Param returns the i-th parameter, or "" when there are fewer.
func (m *Message) Param(i int) string {
	if i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

// Trailing returns the last parameter, or "".
func (m *Message) Trailing() string {
	if len(m.Params) == 0 {
		return ""
	}
	return m.Params[len(m.Params)-1]
}

// ErrBadMessage is returned by Message.Append for a message that cannot be
// written as one IRC line: an empty or spaced command, a middle parameter
// that is empty, has a space or starts with ':', or any CR, LF or NUL.
var ErrBadMessage = errors.New("irc: message cannot be encoded")

// Append appends the message and CRLF to dst (RFC 2812 §2.3.1). The last
// parameter is written as a trailing one (with ':') when it needs it.
func (m *Message) Append(dst []byte) ([]byte, error) {
	if !isCommand(m.Command) {
		return dst, ErrBadMessage
	}
	if len(m.Tags) > 0 {
		dst = append(dst, '@')
		first := true
		for k, v := range m.Tags {
			if strings.ContainsAny(k, " ;=\r\n\x00") || k == "" {
				return dst, ErrBadMessage
			}
			if !first {
				dst = append(dst, ';')
			}
			first = false
			dst = append(dst, k...)
			if v != "" {
				dst = append(dst, '=')
				dst = append(dst, escapeTag(v)...)
			}
		}
		dst = append(dst, ' ')
	}
	if m.Prefix != "" {
		if strings.ContainsAny(m.Prefix, " \r\n\x00") {
			return dst, ErrBadMessage
		}
		dst = append(dst, ':')
		dst = append(dst, m.Prefix...)
		dst = append(dst, ' ')
	}
	dst = append(dst, m.Command...)
	for i, p := range m.Params {
		if strings.ContainsAny(p, "\r\n\x00") {
			return dst, ErrBadMessage
		}
		last := i == len(m.Params)-1
		needTrail := p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0
		if needTrail && !last {
			return dst, ErrBadMessage
		}
		dst = append(dst, ' ')
		if needTrail {
			dst = append(dst, ':')
		}
		dst = append(dst, p...)
	}
	return append(dst, '\r', '\n'), nil
}

// String returns the message as a line without CRLF, or "" when it cannot
// be encoded.
func (m *Message) String() string {
	b, err := m.Append(nil)
	if err != nil {
		return ""
	}
	return string(b[:len(b)-2])
}
