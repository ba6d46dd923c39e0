package irc

import (
	"context"
	"encoding/xml"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Message
		err  error
	}{
		{":irc.test.local 001 alice :Welcome to the Internet Relay Network alice!~alice@127.0.0.1\r\n",
			Message{Prefix: "irc.test.local", Command: "001", Params: []string{"alice", "Welcome to the Internet Relay Network alice!~alice@127.0.0.1"}}, nil},
		{"PING :12345", Message{Command: "PING", Params: []string{"12345"}}, nil},
		{":bob!~bob@127.0.0.1 PART #test :", Message{Prefix: "bob!~bob@127.0.0.1", Command: "PART", Params: []string{"#test", ""}}, nil},
		{":irc.test.local 353 bob = #test :bob @alice", Message{Prefix: "irc.test.local", Command: "353", Params: []string{"bob", "=", "#test", "bob @alice"}}, nil},
		{"@time=2020;+draft/reply=a\\sb\\:c :n!u@h privmsg #x :hi  there ", Message{Tags: map[string]string{"time": "2020", "+draft/reply": "a b;c"}, Prefix: "n!u@h", Command: "PRIVMSG", Params: []string{"#x", "hi  there "}}, nil},
		{"QUIT", Message{Command: "QUIT"}, nil},
		{"  NICK   alice2  ", Message{Command: "NICK", Params: []string{"alice2"}}, nil},
		{"", Message{}, ErrEmpty},
		{"\r\n", Message{}, ErrEmpty},
		{":prefixonly", Message{}, ErrNoCommand},
		{"@a=b", Message{}, ErrNoCommand},
		{"@ PING", Message{}, ErrBadTags},
		{"@=x PING", Message{}, ErrBadTags},
		{": @", Message{}, ErrBadCommand},
		{"PRIV-MSG x", Message{}, ErrBadCommand},
	} {
		m, err := Parse(tc.line)
		if !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q) error %v, want %v", tc.line, err, tc.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(*m, tc.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tc.line, *m, tc.want)
		}
	}
}

func TestMessageNick(t *testing.T) {
	m, _ := Parse(":bob!~bob@127.0.0.1 PRIVMSG alice :hi")
	if m.Nick() != "bob" || m.FromServer() {
		t.Errorf("Nick %q FromServer %v", m.Nick(), m.FromServer())
	}
	m, _ = Parse(":irc.test.local NOTICE alice :hi")
	if m.Nick() != "irc.test.local" || !m.FromServer() {
		t.Errorf("Nick %q FromServer %v", m.Nick(), m.FromServer())
	}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want string
		err  bool
	}{
		{Message{Command: "PRIVMSG", Params: []string{"#test", "hello channel"}}, "PRIVMSG #test :hello channel\r\n", false},
		{Message{Command: "JOIN", Params: []string{"#test"}}, "JOIN #test\r\n", false},
		{Message{Command: "PART", Params: []string{"#test", ""}}, "PART #test :\r\n", false},
		{Message{Command: "PRIVMSG", Params: []string{"x", ":)"}}, "PRIVMSG x ::)\r\n", false},
		{Message{Command: "PRIVMSG", Params: []string{"a b", "x"}}, "", true},
		{Message{Command: "PRIVMSG", Params: []string{"x", "a\r\nQUIT"}}, "", true},
		{Message{Command: ""}, "", true},
	} {
		b, err := tc.m.Append(nil)
		if (err != nil) != tc.err || string(b) != tc.want && !tc.err {
			t.Errorf("%+v: %q %v", tc.m, b, err)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives an encode/parse round trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		":irc.test.local 001 alice :Welcome alice!~alice@127.0.0.1",
		"@time=2020;+draft/reply=a\\sb PRIVMSG #x :hi",
		":a!b@c PART #test :",
		"PING",
		"@ x",
		": :",
		"CMD a b c d e f g h i j k l m n o p :q r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := Parse(line)
		if err != nil {
			return
		}
		if m.Command == "" {
			t.Fatalf("no command from %q", line)
		}
		b, err := m.Append(nil)
		if err != nil {
			return // e.g. a CR inside the line
		}
		m2, err := Parse(string(b))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b, err)
		}
		if m2.Command != m.Command || m2.Prefix != m.Prefix || !reflect.DeepEqual(m2.Params, m.Params) {
			t.Fatalf("round trip %q -> %q: %#v vs %#v", line, b, m, m2)
		}
	})
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                            "plain",
		"\x02bold\x02 \x1ditalic\x1d":      "bold italic",
		"\x0304,12red\x03 \x035x \x0399y":  "red x y",
		"\x03,5comma":                      ",5comma",
		"\x04ff00ffhex\x0f":                "hex",
		"tab\tok\x00nul\x07bell":           "tab\toknulbell",
		"caf\xe9":                          "café",
		"\xff\xfe\x80":                     "ÿþ",
		"snowman ☃ and \xef\xbf\xbe nonch": "snowman ☃ and  nonch",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
		if !utf8.ValidString(Text(in)) {
			t.Errorf("Text(%q) not UTF-8", in)
		}
	}
}

func TestSplit(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	for _, tc := range []struct {
		in   string
		max  int
		want []string
	}{
		{"one\ntwo\r\n\nthree", 100, []string{"one", "two", "three"}},
		{"aaaa bbbb cccc", 10, []string{"aaaa bbbb ", "cccc"}},
		{"aaaaaaaaaaaaaa", 10, []string{"aaaaaaaaaa", "aaaa"}},
		{"€€€€", 7, []string{"€€", "€€"}},
		{"", 10, nil},
	} {
		if got := Split(tc.in, tc.max); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
	parts := Split(long, 401)
	if len(parts) != 2 || len(parts[0]) != 400 || strings.Join(parts, "") != long {
		t.Errorf("split of 600 bytes of é at 401: %d parts, first %d bytes", len(parts), len(parts[0]))
	}
}

// FuzzSplit checks the splitter's promises: pieces within max, valid UTF-8,
// no newline, and nothing lost.
func FuzzSplit(f *testing.F) {
	f.Add("hello world", 8)
	f.Add("a\nb\r\nc", 4)
	f.Add(strings.Repeat("日本語 ", 100), 50)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if !utf8.ValidString(s) || max < 4 || max > 1000 {
			return
		}
		parts := Split(s, max)
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			l = strings.NewReplacer("\r", "", "\x00", "").Replace(l)
			if l != "" {
				lines = append(lines, l)
			}
		}
		joined := strings.Join(parts, "")
		if joined != strings.Join(lines, "") {
			t.Fatalf("lost text: %q -> %q", s, parts)
		}
		for _, p := range parts {
			if len(p) > max || p == "" || !utf8.ValidString(p) || strings.ContainsAny(p, "\r\n\x00") {
				t.Fatalf("bad piece %q (max %d)", p, max)
			}
		}
	})
}

func TestAction(t *testing.T) {
	if s, ok := Action("\x01ACTION waves\x01"); !ok || s != "waves" {
		t.Errorf("Action: %q %v", s, ok)
	}
	if s, ok := Action("\x01ACTION waves"); !ok || s != "waves" {
		t.Errorf("Action without closing: %q %v", s, ok)
	}
	if _, ok := Action("hello"); ok {
		t.Error("plain text taken for an action")
	}
	if MakeAction("x") != "\x01ACTION x\x01" {
		t.Error("MakeAction")
	}
}

// TestDialFake registers against a scripted server on a pipe: PASS, NICK,
// USER, a PING during registration, then ISUPPORT and traffic.
func TestDialFake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		var seen string
		for !strings.Contains(seen, "USER") {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			seen += string(buf[:n])
		}
		c.Write([]byte("PING :tok\r\n"))
		n, _ := c.Read(buf)
		seen += string(buf[:n])
		got <- strings.Split(strings.TrimSpace(seen), "\r\n")
		c.Write([]byte(":srv 001 al :Welcome al!~al@127.0.0.1\r\n:srv 005 al PREFIX=(ov)@+ CHANTYPES=# :are supported\r\n:b!~b@h PRIVMSG al :yo\r\n"))
		c.Read(buf) // until QUIT
		c.Write([]byte("ERROR :Closing connection\r\n"))
	}()
	msgs := make(chan *Message, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{Addr: ln.Addr().String(), Nick: "al", Password: "pw", Handler: func(m *Message) { msgs <- m }})
	if err != nil {
		t.Fatal(err)
	}
	lines := <-got
	want := []string{"PASS pw", "NICK al", "USER al 0 * al", "PONG tok"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("server saw %q, want %q", lines, want)
	}
	for m := range msgs {
		if m.Command == "PRIVMSG" {
			break
		}
	}
	if !c.IsChannel("#x") || c.IsChannel("&x") {
		t.Error("CHANTYPES not applied")
	}
	if p, n := c.SplitPrefix("@+bob"); p != "@+" || n != "bob" {
		t.Errorf("SplitPrefix: %q %q", p, n)
	}
	if got := c.MaxText("PRIVMSG", "#x"); got != 510-len(":al!~al@127.0.0.1 PRIVMSG #x :") {
		t.Errorf("MaxText = %d", got)
	}
	c.Quit("bye")
	if c.Err() != nil {
		t.Errorf("Err after Quit: %v", c.Err())
	}
}

func TestDialNickInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(":srv 433 * al :Nickname already in use\r\n"))
		buf := make([]byte, 100)
		c.Read(buf)
	}()
	_, err = Dial(context.Background(), Config{Addr: ln.Addr().String(), Nick: "al"})
	var ie *Error
	if !errors.As(err, &ie) || ie.Code != ErrNicknameUsed {
		t.Fatalf("err = %v", err)
	}
}

// FuzzText checks that whatever bytes come from IRC, Text yields text that
// XML 1.0 can carry: valid UTF-8, no control character but tab, no U+FFFE or
// U+FFFF, and an XML parser reads it back unchanged.
func FuzzText(f *testing.F) {
	f.Add("plain")
	f.Add("\x02b\x02\x0304,12c\x03\x04ff00ffd\x0f\x1d\x1e\x1f\x16\x11")
	f.Add("caf\xe9 \xff\xfe\x80 \xef\xbf\xbe \xed\xa0\x80")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 && r != '\t' || r == 0xfffe || r == 0xffff || r >= 0x7f && r < 0xa0 {
				t.Fatalf("Text(%q) keeps %U", s, r)
			}
		}
		var b strings.Builder
		xml.EscapeText(&b, []byte(out))
		var v struct {
			Text string `xml:",chardata"`
		}
		if err := xml.Unmarshal([]byte("<b>"+b.String()+"</b>"), &v); err != nil || v.Text != out {
			t.Fatalf("XML round trip of %q: %q %v", out, v.Text, err)
		}
	})
}
